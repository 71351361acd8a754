#include "apps/qml-client/sync/backoff.h"

#include <QtCore/QRandomGenerator>
#include <algorithm>
#include <cmath>
#include <utility>

namespace profiles::client {

Backoff::Backoff(Policy policy)
    : Backoff(policy, [] { return QRandomGenerator::global()->generateDouble(); }) {}

Backoff::Backoff(Policy policy, RandomSource random)
    : policy_(policy), random_(std::move(random)), cap_(policy.initial) {}

std::chrono::milliseconds Backoff::NextDelay() {
  const double fraction = std::clamp(random_(), 0.0, 1.0);
  const auto delay = std::chrono::milliseconds(
      static_cast<std::chrono::milliseconds::rep>(std::llround(fraction * cap_.count())));
  cap_ = std::min(policy_.max, cap_ * 2);
  return delay;
}

void Backoff::Reset() { cap_ = policy_.initial; }

}  // namespace profiles::client

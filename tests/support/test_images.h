#ifndef PROFILES_TESTS_SUPPORT_TEST_IMAGES_H_
#define PROFILES_TESTS_SUPPORT_TEST_IMAGES_H_

// Real pictures of realistic size for tests: avatars as phones send them are
// 100-256 KiB, and every bug found so far hid behind 67-byte test avatars.
//
//   const std::string avatar = profiles::testing::RealisticPng(200 * 1024, /*seed=*/7);
//
// Pure and thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>

namespace profiles::testing {

// A valid, decodable PNG (8-bit RGB, a colour gradient with photographic
// noise, so it does not compress below its size) of between 90% and 100% of
// `max_bytes`. Different seeds give different pictures (and SHA-256s).
// REQUIRES: 4096 <= max_bytes.
std::string RealisticPng(size_t max_bytes, uint32_t seed);

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_SUPPORT_TEST_IMAGES_H_

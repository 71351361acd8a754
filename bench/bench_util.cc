#include "bench/bench_util.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

namespace profiles::bench {
namespace {

constexpr char kIdPrefix[] = "00000000-0000-4000-8000-";

uint32_t Crc32(const std::string& bytes, size_t from) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = from; i < bytes.size(); ++i) {
    crc = table[(crc ^ static_cast<uint8_t>(bytes[i])) & 0xFF] ^ (crc >> 8);
  }
  return crc ^ 0xFFFFFFFFu;
}

void PutBigEndian32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

// Appends a PNG chunk: length, type, data, CRC of type + data.
void AppendChunk(std::string& png, const char type[5], const std::string& data) {
  PutBigEndian32(png, static_cast<uint32_t>(data.size()));
  const size_t type_at = png.size();
  png.append(type, 4);
  png += data;
  PutBigEndian32(png, Crc32(png, type_at));
}

// A zlib stream holding `raw` in stored (uncompressed) deflate blocks.
std::string StoredZlib(const std::string& raw) {
  std::string out = "\x78\x01";
  size_t at = 0;
  do {
    const size_t length = std::min<size_t>(raw.size() - at, 65535);
    const bool last = at + length == raw.size();
    out.push_back(last ? 1 : 0);
    out.push_back(static_cast<char>(length & 0xFF));
    out.push_back(static_cast<char>(length >> 8));
    out.push_back(static_cast<char>(~length & 0xFF));
    out.push_back(static_cast<char>((~length >> 8) & 0xFF));
    out.append(raw, at, length);
    at += length;
  } while (at < raw.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  PutBigEndian32(out, (b << 16) | a);
  return out;
}

// Bytes a PNG of a side x side RGB image takes besides padding: signature 8,
// IHDR 25, IDAT 12 + zlib (2 + 5 per 64 KiB block + raw + 4), IEND 12.
size_t PngSize(int side) {
  const size_t raw = static_cast<size_t>(side) * (1 + 3 * static_cast<size_t>(side));
  return 8 + 25 + 12 + 2 + 5 * (raw / 65535 + 1) + raw + 4 + 12;
}

}  // namespace

std::string ProfileId(int64_t n) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s%012lld", kIdPrefix, static_cast<long long>(n));
  return buf;
}

std::optional<int64_t> ProfileNumber(const std::string& id) {
  constexpr size_t kPrefixLength = sizeof(kIdPrefix) - 1;
  if (id.size() != kPrefixLength + 12 || id.compare(0, kPrefixLength, kIdPrefix) != 0) {
    return std::nullopt;
  }
  int64_t n = 0;
  for (size_t i = kPrefixLength; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return std::nullopt;
    n = n * 10 + (id[i] - '0');
  }
  return n;
}

std::string MakePngAvatar(int size, uint32_t variant) {
  constexpr size_t kTextChunkOverhead = 12 + 8;  // chunk framing + "Comment\0"
  const size_t target = static_cast<size_t>(std::max(size, 128));
  int side = 1;
  while (PngSize(side + 1) + kTextChunkOverhead <= target) ++side;

  std::string ihdr;
  PutBigEndian32(ihdr, static_cast<uint32_t>(side));
  PutBigEndian32(ihdr, static_cast<uint32_t>(side));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, deflate, no filter, no interlace

  std::mt19937 rng(0xa7a7a7 + variant);  // fixed per variant: every tool makes the same picture
  std::string raw;
  raw.reserve(static_cast<size_t>(side) * (1 + 3 * side));
  for (int y = 0; y < side; ++y) {
    raw.push_back(0);  // filter type None
    for (int x = 0; x < 3 * side; ++x) raw.push_back(static_cast<char>(rng() & 0xFF));
  }

  std::string png = "\x89PNG\r\n\x1a\n";
  AppendChunk(png, "IHDR", ihdr);
  AppendChunk(png, "IDAT", StoredZlib(raw));
  const size_t padding = target - png.size() - 12 - kTextChunkOverhead;
  AppendChunk(png, "tEXt", std::string("Comment\0", 8) + std::string(padding, 'x'));
  AppendChunk(png, "IEND", "");
  return png;
}

std::optional<int64_t> ResidentKib(int pid) {
  std::ifstream status(pid == 0 ? std::string("/proc/self/status")
                                : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      int64_t kib = 0;
      if (fields >> kib) return kib;
    }
  }
  return std::nullopt;
}

std::optional<double> CpuSeconds(int pid) {
  std::ifstream stat(pid == 0 ? std::string("/proc/self/stat")
                              : "/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces; the fields after its ')' are
  // plain numbers: state is field 3, utime and stime fields 14 and 15.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  long long utime = 0, stime = 0;
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) utime = std::atoll(field.c_str());
    if (index == 15) stime = std::atoll(field.c_str());
  }
  if (!fields) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string HexEncode(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

std::string Base64Encode(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace profiles::bench

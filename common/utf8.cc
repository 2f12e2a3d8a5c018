#include "common/utf8.h"

#include <cstddef>
#include <cstdint>

namespace oa {
namespace {

// The length of the valid UTF-8 sequence that starts at s[i], or 0 if none does.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<std::uint8_t>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t len;
  std::uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;       // overlong
    if (b0 == 0xed) hi = 0x9f;       // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;       // overlong
    if (b0 == 0xf4) hi = 0x8f;       // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  const auto b1 = static_cast<std::uint8_t>(s[i + 1]);
  if (b1 < lo || b1 > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    const auto b = static_cast<std::uint8_t>(s[i + k]);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return len;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void SanitizeUtf8(std::string* s) {
  for (std::size_t i = 0; i < s->size();) {
    const std::size_t n = Utf8SequenceLength(*s, i);
    if (n == 0) {
      (*s)[i] = '?';
      ++i;
    } else {
      i += n;
    }
  }
}

}  // namespace oa

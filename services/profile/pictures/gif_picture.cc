// GIF: the block walk that drops metadata, and the check that the rest
// decodes (giflib).

#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/profile/pictures/picture_formats.h"

namespace profiles::pictures_internal {
namespace {

constexpr std::string_view kFormat = "GIF";

constexpr uint8_t kExtension = 0x21;
constexpr uint8_t kImage = 0x2C;
constexpr uint8_t kTrailer = 0x3B;
constexpr uint8_t kGraphicControl = 0xF9;
constexpr uint8_t kApplication = 0xFF;

// The size of a colour table announced by `flags`, in bytes.
size_t ColourTableBytes(uint8_t flags) {
  return (flags & 0x80) != 0 ? 3 * (size_t{1} << ((flags & 0x07) + 1)) : 0;
}

// The end of the data sub-blocks starting at `pos` (after their empty
// terminator), or nullopt if the file ends first.
std::optional<size_t> SkipSubBlocks(std::string_view gif, size_t pos) {
  while (pos < gif.size()) {
    const size_t length = Byte(gif, pos);
    pos += 1 + length;
    if (length == 0) return pos;
  }
  return std::nullopt;
}

// Extensions kept: graphic control (frame delays, transparency) and the
// application extensions that make an animation loop. Comments, plain text
// (which no browser draws) and other application extensions (XMP, ICC,
// editors' data) go.
bool KeepsExtension(std::string_view gif, size_t label_at) {
  const uint8_t label = Byte(gif, label_at);
  if (label == kGraphicControl) return true;
  if (label != kApplication || gif.size() - label_at < 13 || Byte(gif, label_at + 1) != 11) {
    return false;
  }
  const std::string_view application = gif.substr(label_at + 2, 11);
  return application == "NETSCAPE2.0" || application == "ANIMEXTS1.0";
}

struct GifInput {
  std::string_view bytes;
  size_t position = 0;
};

int ReadGif(GifFileType* gif, GifByteType* out, int length) {
  auto* input = static_cast<GifInput*>(gif->UserData);
  const size_t count =
      std::min(static_cast<size_t>(std::max(length, 0)), input->bytes.size() - input->position);
  std::memcpy(out, input->bytes.data() + input->position, count);
  input->position += count;
  return static_cast<int>(count);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

std::string ErrorText(int error) {
  const char* text = GifErrorString(error);
  return text != nullptr ? std::string(text) : absl::StrCat("giflib error ", error);
}

}  // namespace

absl::StatusOr<std::string> StripGifMetadata(std::string_view gif) {
  // Header (6 bytes) and logical screen descriptor (7).
  if (gif.size() < 13) return NotA(kFormat, "it is too short");
  size_t pos = 13 + ColourTableBytes(Byte(gif, 10));
  if (pos > gif.size()) return Incomplete(kFormat, "it ends inside its colour table");
  std::string out(gif.substr(0, pos));
  out.reserve(gif.size());
  // Damage before the first block of a known kind means the file never was
  // a GIF; after, that it was cut short or corrupted.
  bool block_seen = false;
  auto damaged = [&](std::string_view detail) {
    return block_seen ? Incomplete(kFormat, detail) : NotA(kFormat, detail);
  };
  while (true) {
    if (pos >= gif.size()) return damaged("it ends before its trailer");
    const uint8_t block = Byte(gif, pos);
    // Anything after the trailer is dropped.
    if (block == kTrailer) return out.append(1, static_cast<char>(kTrailer));
    const size_t start = pos;
    std::optional<size_t> end;
    bool keep = true;
    block_seen = block_seen || block == kImage || block == kExtension;
    if (block == kImage) {
      // Descriptor (10 bytes), local colour table, LZW code size, data.
      if (gif.size() - pos < 10) return damaged("it ends inside a frame");
      pos += 10 + ColourTableBytes(Byte(gif, pos + 9)) + 1;
      if (pos > gif.size()) return damaged("it ends inside a frame");
      end = SkipSubBlocks(gif, pos);
    } else if (block == kExtension) {
      if (gif.size() - pos < 2) return damaged("it ends inside an extension");
      keep = KeepsExtension(gif, pos + 1);
      end = SkipSubBlocks(gif, pos + 2);
    } else {
      return damaged("a block of an unknown kind follows");
    }
    if (!end.has_value()) return damaged("it ends inside a block");
    if (keep) out.append(gif.substr(start, *end - start));
    pos = *end;
  }
}

absl::StatusOr<PictureSize> DecodeGif(std::string_view gif, int max_side,
                                      int64_t max_total_pixels) {
  GifInput input{gif};
  int error = 0;
  std::unique_ptr<GifFileType, GifCloser> file(DGifOpen(&input, ReadGif, &error));
  if (file == nullptr) return NotA(kFormat, ErrorText(error));
  const PictureSize size{file->SWidth, file->SHeight};
  if (absl::Status checked = CheckSize(size.width, size.height, max_side); !checked.ok()) {
    return checked;
  }
  std::vector<GifPixelType> row;
  int64_t pixels = 0;
  while (true) {
    GifRecordType record;
    if (DGifGetRecordType(file.get(), &record) == GIF_ERROR) {
      return Incomplete(kFormat, ErrorText(file->Error));
    }
    if (record == TERMINATE_RECORD_TYPE) return size;
    if (record == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* extension = nullptr;
      if (DGifGetExtension(file.get(), &code, &extension) == GIF_ERROR) {
        return Incomplete(kFormat, ErrorText(file->Error));
      }
      while (extension != nullptr) {
        if (DGifGetExtensionNext(file.get(), &extension) == GIF_ERROR) {
          return Incomplete(kFormat, ErrorText(file->Error));
        }
      }
      continue;
    }
    if (record != IMAGE_DESC_RECORD_TYPE) return Incomplete(kFormat, "a block of an unknown kind");
    // Each frame is read row by row (DGifSlurp would hold every frame
    // whole in memory at once).
    if (DGifGetImageDesc(file.get()) == GIF_ERROR) {
      return Incomplete(kFormat, ErrorText(file->Error));
    }
    const GifImageDesc& frame = file->Image;
    if (frame.Width < 1 || frame.Height < 1) return Incomplete(kFormat, "a frame has no pixels");
    if (absl::Status checked = CheckSize(frame.Width, frame.Height, max_side); !checked.ok()) {
      return checked;
    }
    pixels += int64_t{frame.Width} * frame.Height;
    if (pixels > max_total_pixels) return TooManyFrames(max_total_pixels);
    row.resize(static_cast<size_t>(frame.Width));
    for (int y = 0; y < frame.Height; ++y) {
      if (DGifGetLine(file.get(), row.data(), frame.Width) == GIF_ERROR) {
        return Incomplete(kFormat, ErrorText(file->Error));
      }
    }
  }
}

}  // namespace profiles::pictures_internal

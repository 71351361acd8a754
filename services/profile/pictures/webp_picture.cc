// WebP: the RIFF chunk walk that drops metadata, and the check that the
// rest decodes (libwebp, libwebpdemux).

#include <webp/decode.h>
#include <webp/demux.h>

#include <algorithm>
#include <memory>
#include <string>

#include "services/profile/pictures/picture_formats.h"

namespace profiles::pictures_internal {
namespace {

constexpr std::string_view kFormat = "WebP";

// The chunks that draw the picture; EXIF, XMP and unknown chunks go.
constexpr std::string_view kKeptChunks[] = {"VP8X", "VP8 ", "VP8L", "ALPH", "ANIM", "ANMF", "ICCP"};
// VP8X flags: the file has EXIF / XMP chunks.
constexpr uint8_t kExifFlag = 0x08;
constexpr uint8_t kXmpFlag = 0x04;

void AppendLe32(std::string& out, uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>(value >> shift));
}

std::string_view StatusText(VP8StatusCode status) {
  switch (status) {
    case VP8_STATUS_NOT_ENOUGH_DATA:
      return "it ends too early";
    case VP8_STATUS_UNSUPPORTED_FEATURE:
      return "it uses a feature this service does not read";
    case VP8_STATUS_OUT_OF_MEMORY:
      return "it is too large to check";
    default:
      return "its image data is damaged";
  }
}

struct DemuxDeleter {
  void operator()(WebPDemuxer* demuxer) const { WebPDemuxDelete(demuxer); }
};

// Decodes one frame (a VP8/VP8L bitstream, with its ALPH chunk): every
// pixel is decoded, then scaled down to 1/8 so that the output buffer is
// small; the decoder still reads and checks all of the data.
absl::Status DecodeFrame(const WebPData& frame) {
  WebPDecoderConfig config;
  if (!WebPInitDecoderConfig(&config)) return absl::InternalError("libwebp version mismatch");
  VP8StatusCode status = WebPGetFeatures(frame.bytes, frame.size, &config.input);
  if (status != VP8_STATUS_OK) return Incomplete(kFormat, StatusText(status));
  config.options.use_scaling = 1;
  config.options.scaled_width = std::max(1, config.input.width / 8);
  config.options.scaled_height = std::max(1, config.input.height / 8);
  status = WebPDecode(frame.bytes, frame.size, &config);
  WebPFreeDecBuffer(&config.output);
  if (status != VP8_STATUS_OK) return Incomplete(kFormat, StatusText(status));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> StripWebpMetadata(std::string_view webp) {
  if (webp.size() < 12 || webp.substr(0, 4) != "RIFF" || webp.substr(8, 4) != "WEBP") {
    return NotA(kFormat);
  }
  const size_t riff_size = Le32(webp, 4);
  if (riff_size < 4 || riff_size % 2 != 0) return NotA(kFormat, "its RIFF size is impossible");
  if (webp.size() - 8 < riff_size) return Incomplete(kFormat, "it is shorter than its header says");
  // Anything after the RIFF container is dropped.
  const std::string_view chunks = webp.substr(12, riff_size - 4);
  std::string out("RIFF\0\0\0\0WEBP", 12);
  out.reserve(webp.size());
  size_t pos = 0;
  while (pos < chunks.size()) {
    const bool first = pos == 0;
    auto damaged = [&](std::string_view detail) {
      return first ? NotA(kFormat, detail) : Incomplete(kFormat, detail);
    };
    if (chunks.size() - pos < 8) return damaged("it ends inside a chunk header");
    const std::string_view fourcc = chunks.substr(pos, 4);
    const size_t size = Le32(chunks, pos + 4);
    const size_t padded = size + size % 2;
    if (chunks.size() - pos - 8 < padded) {
      return damaged("it ends inside its " + std::string(fourcc) + " chunk");
    }
    if (first && fourcc != "VP8 " && fourcc != "VP8L" && fourcc != "VP8X") {
      return damaged("it does not start with image data");
    }
    if (std::find(std::begin(kKeptChunks), std::end(kKeptChunks), fourcc) !=
        std::end(kKeptChunks)) {
      const size_t at = out.size();
      out.append(chunks.substr(pos, 8 + padded));
      if (fourcc == "VP8X" && size >= 1) {
        out[at + 8] =
            static_cast<char>(static_cast<uint8_t>(out[at + 8]) & ~(kExifFlag | kXmpFlag));
      }
    }
    pos += 8 + padded;
  }
  const size_t out_riff_size = out.size() - 8;
  std::string size_field;
  AppendLe32(size_field, static_cast<uint32_t>(out_riff_size));
  out.replace(4, 4, size_field);
  return out;
}

absl::StatusOr<PictureSize> DecodeWebp(std::string_view webp, int max_side,
                                       int64_t max_total_pixels) {
  const WebPData data{reinterpret_cast<const uint8_t*>(webp.data()), webp.size()};
  std::unique_ptr<WebPDemuxer, DemuxDeleter> demuxer(WebPDemux(&data));
  if (demuxer == nullptr) return NotA(kFormat, "its chunks do not fit together");
  const PictureSize size{static_cast<int>(WebPDemuxGetI(demuxer.get(), WEBP_FF_CANVAS_WIDTH)),
                         static_cast<int>(WebPDemuxGetI(demuxer.get(), WEBP_FF_CANVAS_HEIGHT))};
  if (absl::Status checked = CheckSize(size.width, size.height, max_side); !checked.ok()) {
    return checked;
  }
  WebPIterator frame;
  if (!WebPDemuxGetFrame(demuxer.get(), 1, &frame)) return Incomplete(kFormat, "it has no frames");
  absl::Status decoded = absl::OkStatus();
  int64_t pixels = 0;
  do {
    pixels += int64_t{frame.width} * frame.height;
    if (pixels > max_total_pixels) {
      decoded = TooManyFrames(max_total_pixels);
      break;
    }
    decoded = DecodeFrame(frame.fragment);
  } while (decoded.ok() && WebPDemuxNextFrame(&frame));
  WebPDemuxReleaseIterator(&frame);
  if (!decoded.ok()) return decoded;
  return size;
}

}  // namespace profiles::pictures_internal

#include "services/profile/domain/json_mapping.h"

#include <google/protobuf/util/json_util.h>

namespace profiles {

std::string ToResponseJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "{}";
  return json;
}

}  // namespace profiles

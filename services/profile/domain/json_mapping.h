#ifndef PROFILES_SERVICES_PROFILE_DOMAIN_JSON_MAPPING_H_
#define PROFILES_SERVICES_PROFILE_DOMAIN_JSON_MAPPING_H_

// The JSON form of profile.v1 messages as the service sends them: protobuf's
// canonical JSON mapping with every field printed (a client reading
// {"name": ""} should not have to know proto3 omits defaults).

#include <google/protobuf/message.h>

#include <string>

namespace profiles {

// `message` in profile.v1's JSON mapping, every field printed. Only a string
// field with invalid UTF-8 makes printing fail, and the service stores none;
// such a message prints as "{}".
std::string ToResponseJson(const google::protobuf::Message& message);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_DOMAIN_JSON_MAPPING_H_

// What the scripts here share: a ProfileService client with grpc-js's
// default settings (4 MiB messages, 8 KiB metadata), and the details of an
// error status as the server sends them (a google.rpc.Status in the
// grpc-status-details-bin trailer).
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const path = require('path');

// google.rpc.Status, Any and ErrorInfo, declared inline: Debian's grpc-proto
// does not ship google/rpc/*.proto.
const rpc = protobuf.Root.fromJSON({
  nested: {
    Any: {fields: {type_url: {type: 'string', id: 1}, value: {type: 'bytes', id: 2}}},
    Status: {
      fields: {
        code: {type: 'int32', id: 1},
        message: {type: 'string', id: 2},
        details: {rule: 'repeated', type: 'Any', id: 3},
      },
    },
    ErrorInfo: {fields: {reason: {type: 'string', id: 1}, domain: {type: 'string', id: 2}}},
  },
});

// The client of the service at `address`, with the proto files in `protoDir`.
function connect(address, protoDir) {
  const protoFile = path.join(protoDir, 'profile/v1/profile.proto');
  const definition = protoLoader.loadSync(protoFile, {includeDirs: [protoDir]});
  const {ProfileService} = grpc.loadPackageDefinition(definition).profile.v1;
  return {
    client: new ProfileService(address, grpc.credentials.createInsecure()),
    Profile: protobuf.loadSync(protoFile).lookupType('profile.v1.Profile'),
  };
}

// The details of a failed call, decoded: {profile, errorInfo}, each
// undefined when absent.
function details(error, Profile) {
  const found = {profile: undefined, errorInfo: undefined};
  const [bytes] = error.metadata.get('grpc-status-details-bin');
  if (!bytes) return found;
  for (const any of rpc.lookupType('Status').decode(bytes).details) {
    if (any.type_url.endsWith('/profile.v1.Profile')) {
      found.profile = Profile.decode(any.value);
    } else if (any.type_url.endsWith('/google.rpc.ErrorInfo')) {
      found.errorInfo = rpc.lookupType('ErrorInfo').decode(any.value);
    }
  }
  return found;
}

// The name of a status code ("ABORTED").
function codeName(code) {
  return grpc.status[code];
}

module.exports = {connect, details, codeName};

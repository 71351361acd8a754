// A grpc-js client with default settings (4 MiB messages, 8 KiB metadata)
// deletes a profile that is at version 2 and carries a full-size picture:
// first based on version 1 (refused: ABORTED with the current profile in the
// grpc-status-details-bin trailer), then on version 2 (the tombstone), then
// reads it (NOT_FOUND, reason PROFILE_DELETED). Prints one line per answer.
//
//   node delete.js HOST:PORT PROFILE_ID PROTO_DIR
//
// Exit code 0 when every call got an answer (whatever it was), 1 otherwise.
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const path = require('path');

const [address, profileId, protoDir] = process.argv.slice(2);
if (!address || !profileId || !protoDir) {
  console.error('usage: node delete.js HOST:PORT PROFILE_ID PROTO_DIR');
  process.exit(2);
}

const protoFile = path.join(protoDir, 'profile/v1/profile.proto');
const definition = protoLoader.loadSync(protoFile, {includeDirs: [protoDir]});
const {ProfileService} = grpc.loadPackageDefinition(definition).profile.v1;

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
const Profile = protobuf.loadSync(protoFile).lookupType('profile.v1.Profile');

function describe(label, error, response) {
  if (!error) {
    console.log(`${label}: code=OK version=${response.version} deleted=${response.deleted}`);
    return;
  }
  console.log(`${label}: code=${grpc.status[error.code]}`);
  const [details] = error.metadata.get('grpc-status-details-bin');
  if (!details) return;
  for (const any of rpc.lookupType('Status').decode(details).details) {
    if (any.type_url.endsWith('/profile.v1.Profile')) {
      const profile = Profile.decode(any.value);
      console.log(`${label}: profile.version=${profile.version} profile.deleted=${profile.deleted}`
                  + ` profile.name=${profile.name} profile.avatar_bytes=${profile.avatar.length}`);
    } else if (any.type_url.endsWith('/google.rpc.ErrorInfo')) {
      console.log(`${label}: reason=${rpc.lookupType('ErrorInfo').decode(any.value).reason}`);
    }
  }
}

const client = new ProfileService(address, grpc.credentials.createInsecure());
const deadline = () => ({deadline: Date.now() + 20000});
client.DeleteProfile({id: profileId, expectedVersion: 1}, deadline(), (staleError, stale) => {
  describe('stale', staleError, stale);
  client.DeleteProfile({id: profileId, expectedVersion: 2}, deadline(), (error, tombstone) => {
    describe('delete', error, tombstone);
    client.GetProfile({id: profileId}, deadline(), (readError, read) => {
      describe('read', readError, read);
      process.exit(0);
    });
  });
});

// A grpc-js client with default settings (4 MiB messages, 8 KiB metadata)
// sends a write based on version 1 of a profile that is at version 2, and
// prints what it got: the status code and the current profile from the
// google.rpc.Status in the grpc-status-details-bin trailer.
//
//   node stale_write.js HOST:PORT PROFILE_ID PROTO_DIR
//
// Exit code 0 when a status arrived (whatever it was), 1 otherwise.
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const path = require('path');

const [address, profileId, protoDir] = process.argv.slice(2);
if (!address || !profileId || !protoDir) {
  console.error('usage: node stale_write.js HOST:PORT PROFILE_ID PROTO_DIR');
  process.exit(2);
}

const protoFile = path.join(protoDir, 'profile/v1/profile.proto');
const definition = protoLoader.loadSync(protoFile, {includeDirs: [protoDir]});
const {ProfileService} = grpc.loadPackageDefinition(definition).profile.v1;

// google.rpc.Status and Any, declared inline: Debian's grpc-proto does not
// ship google/rpc/status.proto.
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
  },
});
const Profile = protobuf.loadSync(protoFile).lookupType('profile.v1.Profile');

const client = new ProfileService(address, grpc.credentials.createInsecure());
const request = {
  profile: {id: profileId, name: 'Stale Name'},
  updateMask: {paths: ['name']},
  expectedVersion: 1,
};
client.UpdateProfile(request, {deadline: Date.now() + 20000}, (error) => {
  if (!error) {
    console.log('code=OK');
    process.exit(1);
  }
  console.log(`code=${grpc.status[error.code]} message=${error.details}`);
  const [details] = error.metadata.get('grpc-status-details-bin');
  if (details) {
    const status = rpc.lookupType('Status').decode(details);
    for (const any of status.details) {
      if (any.type_url.endsWith('/profile.v1.Profile')) {
        const current = Profile.decode(any.value);
        console.log(`current.version=${current.version}`);
        console.log(`current.name=${current.name}`);
        console.log(`current.avatar_sha256=${current.avatarSha256}`);
        console.log(`current.avatar_bytes=${current.avatar.length}`);
      }
    }
  }
  process.exit(0);
});

// A grpc-js client with default settings (4 MiB messages, 8 KiB metadata)
// sends a write based on version 1 of a profile that is at version 2, and
// prints what it got: the status code and the current profile from the
// google.rpc.Status in the grpc-status-details-bin trailer.
//
//   node stale_write.js HOST:PORT PROFILE_ID PROTO_DIR
//
// Exit code 0 when a status arrived (whatever it was), 1 otherwise.
'use strict';

const {connect, details, codeName} = require('./profiles_client');

const [address, profileId, protoDir] = process.argv.slice(2);
if (!address || !profileId || !protoDir) {
  console.error('usage: node stale_write.js HOST:PORT PROFILE_ID PROTO_DIR');
  process.exit(2);
}

const {client, Profile} = connect(address, protoDir);
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
  console.log(`code=${codeName(error.code)} message=${error.details}`);
  const current = details(error, Profile).profile;
  if (current) {
    console.log(`current.version=${current.version}`);
    console.log(`current.name=${current.name}`);
    console.log(`current.avatar_sha256=${current.avatarSha256}`);
    console.log(`current.avatar_bytes=${current.avatar.length}`);
  }
  process.exit(0);
});

// A grpc-js client with default settings (4 MiB messages, 8 KiB metadata)
// deletes a profile that is at version 2 and carries a full-size picture:
// first based on version 1 (refused: ABORTED with the current profile in the
// grpc-status-details-bin trailer), then on version 2 (the tombstone), then
// reads it (NOT_FOUND, reason PROFILE_DELETED). Prints one line per answer.
//
//   node delete.js HOST:PORT PROFILE_ID PROTO_DIR
//
// Exit code 0 when every call got an answer (whatever it was).
'use strict';

const {connect, details, codeName} = require('./profiles_client');

const [address, profileId, protoDir] = process.argv.slice(2);
if (!address || !profileId || !protoDir) {
  console.error('usage: node delete.js HOST:PORT PROFILE_ID PROTO_DIR');
  process.exit(2);
}

const {client, Profile} = connect(address, protoDir);

function describe(label, error, response) {
  if (!error) {
    console.log(`${label}: code=OK version=${response.version} deleted=${response.deleted}`);
    return;
  }
  console.log(`${label}: code=${codeName(error.code)}`);
  const {profile, errorInfo} = details(error, Profile);
  if (profile) {
    console.log(`${label}: profile.version=${profile.version} profile.deleted=${profile.deleted}` +
                ` profile.name=${profile.name} profile.avatar_bytes=${profile.avatar.length}`);
  }
  if (errorInfo) console.log(`${label}: reason=${errorInfo.reason}`);
}

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

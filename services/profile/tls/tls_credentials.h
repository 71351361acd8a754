#ifndef PROFILES_SERVICES_PROFILE_TLS_TLS_CREDENTIALS_H_
#define PROFILES_SERVICES_PROFILE_TLS_TLS_CREDENTIALS_H_

// The server's TLS identity, loaded once and shared by both transports (the
// gRPC port through grpc::SslServerCredentials, the HTTP port through
// Boost.Asio's OpenSSL stream), so the two can never disagree about the
// certificate or about whether clients must show one.
//
//   absl::StatusOr<TlsCredentials> tls = LoadTlsCredentials(
//       {.certificate_file = "server.crt", .key_file = "server.key"});
//
// Loading checks with OpenSSL what a handshake would find out much later:
// that the certificate chain parses, that the key is the certificate's, and
// that the client CA file holds certificates. So a wrong file is refused at
// start-up with a message naming it, not by every client's handshake.
//
// Value type; thread-compatible. Load* are thread-safe.

#include <string>

#include "absl/status/statusor.h"

namespace profiles {

struct TlsCredentials {
  // PEM: the server's certificate first, then any intermediates.
  std::string certificate_chain_pem;
  // PEM: the certificate's private key.
  std::string private_key_pem;
  // PEM: the CAs whose client certificates are accepted. Non-empty: every
  // client must present a certificate one of them signed (mutual TLS);
  // empty: clients present none.
  std::string client_ca_pem{};
};

struct TlsFiles {
  std::string certificate_file;
  std::string key_file;
  // Empty: no client certificates asked for.
  std::string client_ca_file{};
};

// INVALID_ARGUMENT naming the file and what is wrong with it: unreadable,
// not PEM, a key that does not belong to the certificate, an expired
// certificate.
absl::StatusOr<TlsCredentials> LoadTlsCredentials(const TlsFiles& files);

// The same checks on PEM text already in memory.
absl::StatusOr<TlsCredentials> CheckTlsCredentials(TlsCredentials credentials);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_TLS_TLS_CREDENTIALS_H_

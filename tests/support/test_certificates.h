#ifndef PROFILES_TESTS_SUPPORT_TEST_CERTIFICATES_H_
#define PROFILES_TESTS_SUPPORT_TEST_CERTIFICATES_H_

// Certificates made at test time (OpenSSL, EC P-256, valid from an hour ago
// for a day), so no key is ever kept in the repository and none expires
// under a test:
//   - a test CA;
//   - a server certificate the CA signed, for localhost, 127.0.0.1 and ::1;
//   - a client certificate the CA signed (for mutual TLS);
//   - a second, unrelated CA with its own server certificate for the same
//     names: what a man in the middle would present.
// Thread-safe; aborts the test program if OpenSSL fails (it never should).

#include <string>

namespace profiles::testing {

struct TestPki {
  std::string ca_pem;
  std::string server_certificate_pem;
  std::string server_key_pem;
  std::string client_certificate_pem;
  std::string client_key_pem;
  std::string other_ca_pem;
  std::string impostor_certificate_pem;
  std::string impostor_key_pem;

  // The files of WriteTo(), named as the fields: ca.pem, server.pem,
  // server.key, client.pem, client.key, other-ca.pem, impostor.pem,
  // impostor.key.
  struct Files {
    std::string ca, server_certificate, server_key, client_certificate, client_key, other_ca,
        impostor_certificate, impostor_key;
  };
  // Writes every PEM into `directory` (keys with mode 600).
  Files WriteTo(const std::string& directory) const;
};

TestPki MakeTestPki();

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_SUPPORT_TEST_CERTIFICATES_H_

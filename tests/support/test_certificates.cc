#include "tests/support/test_certificates.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

namespace profiles::testing {
namespace {

struct Free {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  void operator()(X509* certificate) const { X509_free(certificate); }
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Certificate = std::unique_ptr<X509, Free>;
using Bio = std::unique_ptr<BIO, Free>;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "test_certificates: %s failed\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

Key NewKey() {
  Key key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  return key;
}

void AddExtension(X509* certificate, X509V3_CTX* context, int nid, const char* value) {
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, context, nid, value);
  Check(extension != nullptr, "X509V3_EXT_conf_nid");
  Check(X509_add_ext(certificate, extension, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(extension);
}

enum class Role { kAuthority, kServer, kClient };

// A certificate for `key` named `common_name`, signed by `issuer` (its
// certificate and key), or self-signed when `issuer` is null.
Certificate Issue(EVP_PKEY* key, const char* common_name, Role role, X509* issuer,
                  EVP_PKEY* issuer_key) {
  Certificate certificate(X509_new());
  X509* x = certificate.get();
  Check(X509_set_version(x, 2) == 1, "X509_set_version");
  unsigned char serial[8];
  Check(RAND_bytes(serial, sizeof(serial)) == 1, "RAND_bytes");
  serial[0] &= 0x7f;  // positive
  ASN1_INTEGER* number = ASN1_INTEGER_new();
  BIGNUM* value = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(value, number);
  X509_set_serialNumber(x, number);
  BN_free(value);
  ASN1_INTEGER_free(number);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  Check(X509_set_pubkey(x, key) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Profiles tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : x;
  Check(X509_set_issuer_name(x, X509_get_subject_name(signer)) == 1, "X509_set_issuer_name");

  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, signer, x, nullptr, nullptr, 0);
  AddExtension(x, &context, NID_subject_key_identifier, "hash");
  switch (role) {
    case Role::kAuthority:
      AddExtension(x, &context, NID_basic_constraints, "critical,CA:TRUE");
      AddExtension(x, &context, NID_key_usage, "critical,keyCertSign,cRLSign");
      break;
    case Role::kServer:
      AddExtension(x, &context, NID_basic_constraints, "critical,CA:FALSE");
      AddExtension(x, &context, NID_key_usage, "critical,digitalSignature");
      AddExtension(x, &context, NID_ext_key_usage, "serverAuth");
      AddExtension(x, &context, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
      break;
    case Role::kClient:
      AddExtension(x, &context, NID_basic_constraints, "critical,CA:FALSE");
      AddExtension(x, &context, NID_key_usage, "critical,digitalSignature");
      AddExtension(x, &context, NID_ext_key_usage, "clientAuth");
      break;
  }
  if (issuer != nullptr) AddExtension(x, &context, NID_authority_key_identifier, "keyid:always");
  Check(X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return certificate;
}

std::string Pem(X509* certificate) {
  Bio bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_X509(bio.get(), certificate) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string Pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string Write(const std::string& directory, const char* name, const std::string& text,
                  bool secret) {
  const std::string path = directory + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  if (secret) chmod(path.c_str(), 0600);
  return path;
}

}  // namespace

TestPki MakeTestPki() {
  TestPki pki;
  const Key ca_key = NewKey();
  const Certificate ca = Issue(ca_key.get(), "Profiles test CA", Role::kAuthority, nullptr, nullptr);
  const Key server_key = NewKey();
  const Certificate server =
      Issue(server_key.get(), "localhost", Role::kServer, ca.get(), ca_key.get());
  const Key client_key = NewKey();
  const Certificate client =
      Issue(client_key.get(), "Profiles test client", Role::kClient, ca.get(), ca_key.get());
  const Key other_key = NewKey();
  const Certificate other =
      Issue(other_key.get(), "Some other CA", Role::kAuthority, nullptr, nullptr);
  const Key impostor_key = NewKey();
  const Certificate impostor =
      Issue(impostor_key.get(), "localhost", Role::kServer, other.get(), other_key.get());
  pki.ca_pem = Pem(ca.get());
  pki.server_certificate_pem = Pem(server.get());
  pki.server_key_pem = Pem(server_key.get());
  pki.client_certificate_pem = Pem(client.get());
  pki.client_key_pem = Pem(client_key.get());
  pki.other_ca_pem = Pem(other.get());
  pki.impostor_certificate_pem = Pem(impostor.get());
  pki.impostor_key_pem = Pem(impostor_key.get());
  return pki;
}

TestPki::Files TestPki::WriteTo(const std::string& directory) const {
  return {.ca = Write(directory, "ca.pem", ca_pem, false),
          .server_certificate = Write(directory, "server.pem", server_certificate_pem, false),
          .server_key = Write(directory, "server.key", server_key_pem, true),
          .client_certificate = Write(directory, "client.pem", client_certificate_pem, false),
          .client_key = Write(directory, "client.key", client_key_pem, true),
          .other_ca = Write(directory, "other-ca.pem", other_ca_pem, false),
          .impostor_certificate =
              Write(directory, "impostor.pem", impostor_certificate_pem, false),
          .impostor_key = Write(directory, "impostor.key", impostor_key_pem, true)};
}

}  // namespace profiles::testing

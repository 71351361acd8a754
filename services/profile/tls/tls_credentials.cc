#include "services/profile/tls/tls_credentials.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace profiles {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Certificate = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

// OpenSSL's reason for the last failure on this thread, and the queue
// cleared so a later check does not report it again.
std::string OpenSslReason() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "no PEM data found";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in `pem`, in order; INVALID_ARGUMENT naming `what` when
// there is none or one does not parse.
absl::StatusOr<std::vector<Certificate>> Certificates(const std::string& pem,
                                                      const std::string& what) {
  std::vector<Certificate> certificates;
  Bio bio = MemoryBio(pem);
  while (Certificate certificate{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    certificates.push_back(std::move(certificate));
  }
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a
  // block that does not parse; only the first is fine.
  const unsigned long last = ERR_peek_last_error();
  if (ERR_GET_REASON(last) == PEM_R_NO_START_LINE) ERR_clear_error();
  if (ERR_peek_last_error() != 0 || certificates.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " holds no PEM certificate that can be read (", OpenSslReason(), ")"));
  }
  return certificates;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " '", path, "'"));
  }
  return text.str();
}

}  // namespace

absl::StatusOr<TlsCredentials> CheckTlsCredentials(TlsCredentials credentials) {
  absl::StatusOr<std::vector<Certificate>> chain =
      Certificates(credentials.certificate_chain_pem, "the TLS certificate");
  if (!chain.ok()) return chain.status();
  X509* leaf = chain->front().get();
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
    return absl::InvalidArgumentError("the TLS certificate has expired");
  }
  Bio key_bio = MemoryBio(credentials.private_key_pem);
  Key key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS key holds no unencrypted PEM private key (", OpenSslReason(), ")"));
  }
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "the TLS key does not belong to the TLS certificate (the first certificate in its file)");
  }
  if (!credentials.client_ca_pem.empty()) {
    absl::StatusOr<std::vector<Certificate>> authorities =
        Certificates(credentials.client_ca_pem, "the client CA file");
    if (!authorities.ok()) return authorities.status();
  }
  return credentials;
}

absl::StatusOr<TlsCredentials> LoadTlsCredentials(const TlsFiles& files) {
  TlsCredentials credentials;
  absl::StatusOr<std::string> chain = ReadFile(files.certificate_file, "TLS certificate file");
  if (!chain.ok()) return chain.status();
  credentials.certificate_chain_pem = *std::move(chain);
  absl::StatusOr<std::string> key = ReadFile(files.key_file, "TLS key file");
  if (!key.ok()) return key.status();
  credentials.private_key_pem = *std::move(key);
  if (!files.client_ca_file.empty()) {
    absl::StatusOr<std::string> authorities = ReadFile(files.client_ca_file, "client CA file");
    if (!authorities.ok()) return authorities.status();
    if (authorities->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the client CA file '", files.client_ca_file, "' is empty"));
    }
    credentials.client_ca_pem = *std::move(authorities);
  }
  absl::StatusOr<TlsCredentials> checked = CheckTlsCredentials(std::move(credentials));
  if (!checked.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(checked.status().message(), " (files: ",
                                                   files.certificate_file, ", ", files.key_file,
                                                   files.client_ca_file.empty() ? "" : ", ",
                                                   files.client_ca_file, ")"));
  }
  return checked;
}

}  // namespace profiles

#include "agent/metrics/certificate_expiry.h"

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace oa {

absl::StatusOr<std::int64_t> CertificateNotAfter(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "r"), &std::fclose);
  if (!file) return absl::NotFoundError(absl::StrCat("certificate ", path, ": cannot open"));
  std::unique_ptr<X509, void (*)(X509*)> cert(PEM_read_X509(file.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert) return absl::InvalidArgumentError(absl::StrCat("certificate ", path, ": not a PEM certificate"));
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("certificate ", path, ": unreadable notAfter"));
  }
  return static_cast<std::int64_t>(::timegm(&tm));
}

}  // namespace oa

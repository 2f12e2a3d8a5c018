// The not-after time of a PEM certificate file, read with OpenSSL, for the certificate_expiry_timestamp_seconds
// gauge: operators alert on it before a client or server certificate runs out (packaging/monitoring).
//
// Thread-safety: pure (reads the file).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace oa {

// The first certificate in `path` (PEM): its notAfter as unix seconds. An error names the file.
absl::StatusOr<std::int64_t> CertificateNotAfter(const std::string& path);

}  // namespace oa

// RawPortal: a lying portal for wire-level tests. A real gRPC server over mTLS on loopback (dev PKI files given by the
// test) that answers every unary call, whatever its method, with hand-made bytes: a reply the generated server code
// could never send (trailing garbage, no message with an OK status, a huge map). It records what it received, so a
// test can check that the agent's request is still the one protocol-reference.md describes.
// For tests only. Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace oa::sim {

struct RawReply {
  bool send_message = true;  // false: trailers only (status OK, no message at all)
  std::string bytes;         // the message body as sent (may be empty: a zero-length message)
};

struct RawCall {
  std::string method;         // the HTTP/2 :path, e.g. "/vpn.v1.AuthService/CheckPolicy"
  std::string request_bytes;  // the request message as received
};

class RawPortal {
 public:
  // Serves on 127.0.0.1 (a free port) with `cert_file`/`key_file`, requiring client certificates from `client_ca_file`.
  static absl::StatusOr<std::unique_ptr<RawPortal>> Start(const std::string& cert_file, const std::string& key_file,
                                                          const std::string& client_ca_file);
  ~RawPortal();

  std::string address() const;
  void SetReply(RawReply reply);  // for the calls that arrive from now on
  std::vector<RawCall> calls() const;

  class Impl;

 private:
  explicit RawPortal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace oa::sim

#include "agent/portal/portal_channel.h"

#include <algorithm>
#include <climits>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace oa {
namespace {

// How long the channel waits at most between reconnect attempts to a portal that is down. gRPC's default (120 s)
// would keep failing calls fast long after the portal is back, and the breaker's half-open probes would see a dead
// channel instead of the portal.
constexpr int kMaxReconnectBackoffMs = 5000;
constexpr int kInitialReconnectBackoffMs = 500;

absl::StatusOr<std::string> ReadPem(const std::string& key, const std::string& path, const char* marker) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("portal.", key, " is required (mutual TLS)"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("portal.", key, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("portal.", key, ": error reading ", path));
  std::string pem = std::move(text).str();
  if (pem.empty()) return absl::InvalidArgumentError(absl::StrCat("portal.", key, ": ", path, " is empty"));
  if (pem.find(marker) == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("portal.", key, ": ", path, " holds no PEM ", marker));
  }
  return pem;
}

}  // namespace

std::chrono::milliseconds PortalConnectTimeout(const PortalOptions& options) {
  return std::max(options.timeout, kMinPortalConnectTimeout);
}

grpc::ChannelArguments PortalChannelArguments(const PortalOptions& options) {
  grpc::ChannelArguments args;
  if (!options.server_name.empty()) args.SetSslTargetNameOverride(options.server_name);
  const auto keepalive_ms = static_cast<int>(options.keepalive_time.count());
  if (keepalive_ms > 0) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
    // A ping unanswered for this long means the portal (or the path to it) is gone: fail calls now rather than at
    // their deadline, and reconnect.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(std::min<long long>(options.timeout.count(), 20000)));
    // Keep pinging between connects, which can be minutes apart, so the first call after a quiet spell does not
    // find a half-dead connection. The portal must allow pings this often (gRPC servers refuse pings more often
    // than every 5 minutes by default; the client then backs its keepalive off by itself).
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  // Despite its name, gRPC core uses this argument only as the minimum deadline of one connection attempt (TCP + TLS
  // handshake; subchannel.cc StartConnectingLocked: deadline = max(next backoff time, now + this)). It used to be the
  // 500 ms of the backoff, so a portal more than ~500 ms of handshake away never connected on a first attempt.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(std::min<long long>(
                                                     PortalConnectTimeout(options).count(), INT_MAX)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  // No BDP probing: with it, gRPC answers data it receives with a PING (to estimate the bandwidth-delay product and
  // grow the flow-control window) that the portal must read and acknowledge — one more frame each way, with its
  // syscalls, TLS records and wake-ups on both sides, for every policy event and every reply. What the agent receives
  // is small (policy events and replies of a few hundred bytes), where a larger window buys nothing. The fan-out
  // benchmark (BENCHMARKS.md, "Fan-out to 1 000 Watch streams") measured about a third less CPU per event and stream
  // on both sides, and the decision path unchanged. Keepalive pings are a separate mechanism, unchanged.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  return args;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakePortalChannel(const PortalOptions& options) {
  if (options.address.empty()) return absl::InvalidArgumentError("portal.address is required");
  auto ca = ReadPem("ca_file", options.ca_file, "CERTIFICATE");
  if (!ca.ok()) return ca.status();
  auto cert = ReadPem("cert_file", options.cert_file, "CERTIFICATE");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem("key_file", options.key_file, "PRIVATE KEY");
  if (!key.ok()) return key.status();

  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = *std::move(ca);
  tls.pem_cert_chain = *std::move(cert);
  tls.pem_private_key = *std::move(key);

  auto channel = grpc::CreateCustomChannel(options.address, grpc::SslCredentials(tls), PortalChannelArguments(options));
  if (!channel) return absl::InternalError(absl::StrCat("portal: cannot create a channel to ", options.address));
  return channel;
}

}  // namespace oa

// The helper's options and the request it builds from ocserv's environment. Kept apart from main.cc so that unit
// tests can drive them with a fake environment. C-style on purpose: this is linked into the static helper, whose
// start-up is paid on every VPN connection (no iostream, no libprotobuf, no absl). Pure functions; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/ipc_types.h"

namespace oa::helper {

inline constexpr const char* kDefaultSocket = "/run/ocserv-agent/auth.sock";
inline constexpr std::uint32_t kDefaultTimeoutMs = 5000;
inline constexpr std::uint32_t kMaxTimeoutMs = 600'000;

enum class OnAgentFailure : std::uint8_t { kDeny, kAllow };

struct HelperConfig {
  std::string socket_path = kDefaultSocket;
  std::uint32_t timeout_ms = kDefaultTimeoutMs;
  OnAgentFailure on_agent_failure = OnAgentFailure::kDeny;
  bool help = false;
};

// Looks up one environment variable (nullptr if unset). `ctx` is passed through.
using EnvLookup = const char* (*)(void* ctx, const char* name);
const char* ProcessEnv(void* ctx, const char* name);  // getenv

// Flags (--socket PATH, --timeout DURATION, --on-agent-failure deny|allow, also as --flag=value) win over the
// environment (OCSERV_AGENT_SOCKET, OCSERV_AGENT_TIMEOUT, OCSERV_AGENT_ON_FAILURE). False + *error on a bad value.
bool ParseHelperConfig(int argc, const char* const* argv, EnvLookup env, void* env_ctx, HelperConfig* cfg,
                       std::string* error);

// "5s", "500ms", "1.5s", "2m", or a bare number of seconds. False if malformed, zero or above kMaxTimeoutMs.
bool ParseDurationMs(std::string_view s, std::uint32_t* ms);

// Splits ocserv's space-separated lists ("10.0.0.0/255.0.0.0 192.168.0.0/255.255.0.0 "): no empty items.
std::vector<std::string> SplitList(std::string_view s);

// Fills every field of *req that ocserv's environment gives (docs/ocserv.md#environment); a missing variable leaves the
// field empty. Invalid UTF-8 bytes are replaced by '?' (the wire carries proto3 strings). REASON maps to `reason`
// (kUnspecified if unset or unknown). request_id and deadline_ms are the caller's.
void BuildRequestFromEnv(EnvLookup env, void* env_ctx, IpcRequest* req);

}  // namespace oa::helper

// The audit lines' fields as JSON fields, for logging.format: json. The three audit lines are written as text,
// "EVENT key=value key=\"quoted value\" ...":
//   decision user="alice" group="" ip="…" id="…" verdict=allow source=portal latency_ms=0.812 reason="" request_id="…"
//   session disconnect id="…" user="…" … bytes_in=N bytes_out=N duration_s=N admitted_by=portal
//   management audit: identity=… role=… rpc=… result=OK user="…" reason="…"
// (ipc/ipc_server.cc, agent/authorizer/audit_log.cc, agent/management/call_gate.cc), their quoted values escaped by
// fmt's {:?} or AuditText (\n \r \t \" \' \\ \xHH \uHHHH \UHHHHHHHH). The JSON formatter (logging.cc) turns such a
// line into "msg":"decision","user":"alice",…,"latency_ms":0.812 — one field per key, numbers as numbers — so that a
// log pipeline filters on fields instead of parsing the message. The text form stays the one source: the writers
// need not know the format, and a text log reads as before.
// Anything that is not exactly such a line (another message, a value with an unknown escape, a key that would clash
// with the line's own "time", "level", "logger" or "msg") is left alone: the caller writes it as the plain message.
// Pure functions, any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace oa {

// The JSON members for `message` when it is an audit line: "\"msg\":\"decision\",\"user\":\"alice\",…" (no braces,
// no leading comma); nullopt when it is not.
std::optional<std::string> AuditLineJsonMembers(std::string_view message);

// `text` as the contents of a JSON string (without the quotes): '"', '\\' and control characters escaped; `text`
// must be valid UTF-8 (the caller replaces stray bytes).
void AppendJsonEscaped(std::string_view text, std::string* out);

}  // namespace oa

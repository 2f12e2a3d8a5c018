#include "agent/enforcement/watch_event_decoder.h"

#include <chrono>
#include <string>

namespace oa {
namespace {

// Exactly one of username / groupname / all must be set.
std::optional<Subject> DecodeSubject(bool present, const ocserv_agent::v1::Subject& s, std::string* invalid) {
  if (!present) {
    *invalid = "no subject";
    return std::nullopt;
  }
  const int set = !s.username().empty() + !s.groupname().empty() + s.all();
  if (set != 1) {
    *invalid = set == 0 ? "empty subject" : "subject with more than one of username, groupname, all";
    return std::nullopt;
  }
  if (s.all()) return Subject::All();
  const std::string& name = s.username().empty() ? s.groupname() : s.username();
  if (name.size() > kMaxSubjectNameBytes) {
    *invalid = "subject name longer than " + std::to_string(kMaxSubjectNameBytes) + " bytes";
    return std::nullopt;
  }
  return s.username().empty() ? Subject::Group(name) : Subject::User(name);
}

// One log line per event: control characters would let a portal's text forge lines.
std::string CleanReason(const std::string& in) {
  std::string out = in.substr(0, kMaxReasonBytes);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

}  // namespace

PolicyEvent DecodePolicyEvent(const ocserv_agent::v1::PolicyEvent& wire) {
  using W = ocserv_agent::v1::PolicyEvent;
  PolicyEvent e;
  e.version = wire.version();
  if (wire.has_published_at()) {
    e.published_at = Clock::WallTime(std::chrono::duration_cast<Clock::WallTime::duration>(
        std::chrono::seconds(wire.published_at().seconds()) + std::chrono::nanoseconds(wire.published_at().nanos())));
  }
  switch (wire.event_case()) {
    case W::kHeartbeat:
      e.kind = PolicyEventKind::kHeartbeat;
      e.heartbeat_interval_s = wire.heartbeat().interval_seconds();
      break;
    case W::kRevoke:
      e.kind = PolicyEventKind::kRevoke;
      e.subject = DecodeSubject(wire.revoke().has_subject(), wire.revoke().subject(), &e.invalid);
      e.reason = CleanReason(wire.revoke().reason());
      e.disconnect_reason = static_cast<int>(wire.revoke().disconnect_reason());
      if (e.subject && e.subject->kind == SubjectKind::kAll) e.invalid = "revoke of `all` is not allowed";
      break;
    case W::kRestore:
      e.kind = PolicyEventKind::kRestore;
      e.subject = DecodeSubject(wire.restore().has_subject(), wire.restore().subject(), &e.invalid);
      if (e.subject && e.subject->kind == SubjectKind::kAll) e.invalid = "restore of `all` is not allowed";
      break;
    case W::kInvalidate:
      e.kind = PolicyEventKind::kInvalidate;
      e.subject = DecodeSubject(wire.invalidate().has_subject(), wire.invalidate().subject(), &e.invalid);
      break;
    case W::kRecheck:
      e.kind = PolicyEventKind::kRecheck;
      e.subject = DecodeSubject(wire.recheck().has_subject(), wire.recheck().subject(), &e.invalid);
      break;
    case W::kResync:
      e.kind = PolicyEventKind::kResync;
      break;
    case W::EVENT_NOT_SET:  // an event kind newer than this agent (unknown oneof field) lands here
      e.kind = PolicyEventKind::kUnknown;
      break;
  }
  if (!e.invalid.empty()) e.subject.reset();
  return e;
}

}  // namespace oa

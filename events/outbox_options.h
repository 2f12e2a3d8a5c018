// The outbox's settings (config key section `events:`), apart from the outbox so that the config can hold them
// without pulling in threads and SQLite. Plain data.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oa {

enum class OutboxDurability : std::uint8_t {
  kProcess,  // survives kill -9: WAL, synchronous=NORMAL (the OS has every committed group)
  kPower,    // survives power loss: synchronous=FULL (an fsync per committed group)
};
std::optional<OutboxDurability> ParseOutboxDurability(std::string_view text);  // "process" | "power"
std::string_view to_string(OutboxDurability durability);

struct OutboxOptions {
  std::string path = "/var/lib/ocserv-agent/outbox.db";
  OutboxDurability durability = OutboxDurability::kProcess;
  std::uint64_t max_events = 1'000'000;
  // While the store is unusable (and for what is queued but not yet committed).
  std::size_t max_memory_events = 100'000;
  std::chrono::milliseconds reopen_interval{30'000};  // by the injected Clock
  std::uint64_t max_parked = 10'000;                  // parked events kept in the file for an operator
  // Not configuration. The writer starts a group at most once per window: after an idle spell it gathers appended
  // events for this long, under a steady stream until the previous group's start plus this; one transaction and one
  // wake-up of the sender for all of them. Real time; Flush and Stop cut it short.
  // The price: an event appended less than this before a kill -9 is not yet committed, so lost (the helper's
  // acknowledgement never waits for the commit; README "Session records").
  std::chrono::milliseconds group_window{1};
  // Not configuration. How long the writer holds back a group of removals only (delivered events) for company: the
  // next appended event, or more removals, share its transaction. Real time. A removal lost in a crash only means a
  // re-send, which the portal drops by event_id; appends and parks are never held back. 0 = commit at once.
  std::chrono::milliseconds removal_linger{20};
  // Not configuration. The writer thread's nice value (0 = unchanged): decisions first, the writer yields the CPU to
  // a waking decision thread; a positive value still gets a share under full load, so commits keep going.
  int writer_nice = 0;
  // Not configuration: tests only. SQLite's max_page_count for the store (0 = none), to make "disk full" happen.
  std::uint32_t test_max_pages = 0;

  bool operator==(const OutboxOptions&) const = default;
};

}  // namespace oa

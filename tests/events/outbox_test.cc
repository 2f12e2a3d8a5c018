#include "events/outbox.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "events/event_codec.h"
#include "fake_clock.h"
#include "temp_dir.h"

namespace oa {
namespace {

using testing::FakeClock;
using testing::TempDir;

SessionEvent Connect(const std::string& user, const std::string& id = "1") {
  SessionEvent e;
  e.kind = SessionEventKind::kConnect;
  e.username = user;
  e.session_id = id;
  e.metadata["admitted_by"] = "portal";
  return e;
}

OutboxOptions OptionsAt(const std::string& path) {
  OutboxOptions o;
  o.path = path;
  o.reopen_interval = std::chrono::seconds(30);
  return o;
}

std::vector<std::string> Users(const std::vector<StoredEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.event.username);
  return out;
}

TEST(EventCodecTest, RoundTripsEveryField) {
  SessionEvent e;
  e.kind = SessionEventKind::kDisconnect;
  e.username = "alice";
  e.groupname = "staff";
  e.session_id = "4242";
  e.client_ip = "198.51.100.7";
  e.vpn_ip = "10.10.0.2";
  e.device = "vpns0";
  e.at = Clock::WallTime(std::chrono::seconds(1'790'000'000));
  e.reason = DisconnectReason::kAdminForced;
  e.duration_seconds = 61;
  e.bytes_received = 1234;
  e.bytes_sent = 5678;
  e.metadata = {{"admitted_by", "fail_open"}, {"x", std::string("\0y", 2)}};
  auto back = DecodeSessionEvent(EncodeSessionEvent(e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->kind, e.kind);
  EXPECT_EQ(back->username, e.username);
  EXPECT_EQ(back->groupname, e.groupname);
  EXPECT_EQ(back->session_id, e.session_id);
  EXPECT_EQ(back->client_ip, e.client_ip);
  EXPECT_EQ(back->vpn_ip, e.vpn_ip);
  EXPECT_EQ(back->device, e.device);
  EXPECT_EQ(back->at, e.at);
  EXPECT_EQ(back->reason, e.reason);
  EXPECT_EQ(back->duration_seconds, 61);
  EXPECT_EQ(back->bytes_received, 1234u);
  EXPECT_EQ(back->bytes_sent, 5678u);
  EXPECT_EQ(back->metadata, e.metadata);
}

TEST(EventCodecTest, RefusesTruncatedAndForeignRecords) {
  const std::string good = EncodeSessionEvent(Connect("alice"));
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(DecodeSessionEvent(good.substr(0, n)).ok()) << "prefix of " << n << " bytes";
  }
  std::string newer = good;
  newer[0] = 9;
  EXPECT_FALSE(DecodeSessionEvent(newer).ok());
  EXPECT_FALSE(DecodeSessionEvent(good + "x").ok());
}

TEST(OutboxTest, KeepsOrderAssignsUniqueIdsAndSurvivesReopen) {
  TempDir dir;
  FakeClock clock;
  std::set<std::string> ids;
  {
    Outbox box(OptionsAt(dir / "outbox.db"), clock);
    for (const char* u : {"a", "b", "c"}) ids.insert(box.Append(Connect(u)));
    box.Flush();
    EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(box.stats().store_ok);
    EXPECT_EQ(box.stats().committed, 3u);
  }
  EXPECT_EQ(ids.size(), 3u);
  Outbox again(OptionsAt(dir / "outbox.db"), clock);
  auto pending = again.Pending(10);
  ASSERT_EQ(Users(pending), (std::vector<std::string>{"a", "b", "c"}));
  for (const auto& e : pending) EXPECT_EQ(ids.count(e.event_id), 1u) << "the id is stable across a restart";
  EXPECT_EQ(pending[0].event.metadata.at("admitted_by"), "portal");
  // New events after a restart get new seqs and ids.
  const std::string d = again.Append(Connect("d"));
  again.Flush();
  EXPECT_EQ(ids.count(d), 0u);
  auto all = again.Pending(10);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_GT(all[3].seq, all[2].seq);
}

TEST(OutboxTest, RemoveAndParkTakeEventsOutOfPending) {
  TempDir dir;
  FakeClock clock;
  Outbox box(OptionsAt(dir / "outbox.db"), clock);
  for (const char* u : {"a", "b", "c"}) box.Append(Connect(u));
  box.Flush();
  auto p = box.Pending(10);
  box.Remove(p[0].seq);
  // Skipped at once, before the writer has applied it.
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"b", "c"}));
  box.Park(p[1].seq, "INVALID_ARGUMENT: no such user");
  box.Flush();
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"c"}));
  const auto s = box.stats();
  EXPECT_EQ(s.removed, 1u);
  EXPECT_EQ(s.parked, 1u);
  EXPECT_EQ(s.depth, 1u);
}

TEST(OutboxTest, DropsTheOldestAtTheBoundAndCountsThem) {
  TempDir dir;
  FakeClock clock;
  auto o = OptionsAt(dir / "outbox.db");
  o.max_events = 3;
  Outbox box(o, clock);
  for (const char* u : {"a", "b", "c", "d", "e"}) {
    box.Append(Connect(u));
    box.Flush();  // one group each, so the bound is checked after each
  }
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"c", "d", "e"}));
  EXPECT_EQ(box.stats().dropped_full, 2u);
  EXPECT_EQ(box.stats().depth, 3u);
}

TEST(OutboxTest, ReportsOldestAge) {
  TempDir dir;
  FakeClock clock;
  Outbox box(OptionsAt(dir / "outbox.db"), clock);
  EXPECT_EQ(box.stats().oldest_written_at, Clock::WallTime{});
  const auto first = clock.wall_now();
  box.Append(Connect("a"));
  clock.advance(std::chrono::seconds(5));
  box.Append(Connect("b"));
  box.Flush();
  EXPECT_EQ(box.stats().oldest_written_at, first);
}

TEST(OutboxTest, GarbageFileIsMovedAsideAndANewStoreStarted) {
  TempDir dir;
  FakeClock clock;
  const std::string path = dir.WriteFile("outbox.db", std::string(8192, 'x'));
  Outbox box(OptionsAt(path), clock);
  const auto s = box.stats();
  EXPECT_TRUE(s.store_ok);
  EXPECT_EQ(s.moved_aside, 1u);
  EXPECT_GE(s.store_failures, 1u);
  int aside = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
    aside += f.path().filename().string().rfind("outbox.db.corrupt-", 0) == 0;
  }
  EXPECT_EQ(aside, 1);
  box.Append(Connect("a"));
  box.Flush();
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"a"}));
}

TEST(OutboxTest, TruncatedFileIsMovedAsideNeverACrash) {
  TempDir dir;
  FakeClock clock;
  const std::string path = dir / "outbox.db";
  {
    Outbox box(OptionsAt(path), clock);
    for (int i = 0; i < 200; ++i) box.Append(Connect("user" + std::to_string(i)));
    box.Flush();
  }
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  const auto size = std::filesystem::file_size(path);
  ASSERT_GT(size, 4096u);
  std::filesystem::resize_file(path, size / 2 + 100);  // mid-page: the tree points past the end of the file
  Outbox box(OptionsAt(path), clock);
  EXPECT_TRUE(box.stats().store_ok);
  EXPECT_EQ(box.stats().moved_aside, 1u);
  box.Append(Connect("after"));
  box.Flush();
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"after"}));
}

// The store cannot be opened at first (something else is in the way, as with a read-only directory — which root,
// running these tests in CI, would ignore): events wait in memory, are deliverable from there, and go into the store
// once it opens on a later retry (by the FakeClock, never a sleep).
TEST(OutboxTest, UnopenableStoreKeepsEventsInMemoryThenStoresThemOnceItOpens) {
  TempDir dir;
  FakeClock clock;
  const std::string path = dir / "outbox.db";
  std::filesystem::create_directory(path);
  Outbox box(OptionsAt(path), clock);
  EXPECT_FALSE(box.stats().store_ok);
  EXPECT_GE(box.stats().store_failures, 1u);
  box.Append(Connect("a"));
  box.Append(Connect("b"));
  box.Flush();
  EXPECT_EQ(box.stats().memory_depth, 2u);
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"a", "b"})) << "deliverable from memory meanwhile";
  box.Remove(box.Pending(1)[0].seq);  // delivered from memory: removed there
  box.Flush();
  std::filesystem::remove(path);
  box.Poke();  // not yet: the retry is due only after reopen_interval
  box.Flush();
  EXPECT_FALSE(box.stats().store_ok);
  clock.advance(std::chrono::seconds(31));
  box.Poke();
  box.Flush();
  EXPECT_TRUE(box.stats().store_ok);
  EXPECT_EQ(box.stats().memory_depth, 0u);
  EXPECT_EQ(box.stats().depth, 1u);
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"b"}));
  EXPECT_EQ(box.stats().removed, 1u);
}

// Root writes a read-only file anyway, so under root (as in CI) the check runs in a child that has become nobody.
TEST(OutboxTest, ReadOnlyFileIsNotUsedAndEventsStayInMemory) {
  TempDir dir;
  FakeClock clock;
  const std::string path = dir / "outbox.db";
  { Outbox box(OptionsAt(path), clock); }
  ::chmod(dir.path().c_str(), 0755);
  ::chmod(path.c_str(), 0444);
  EXPECT_EXIT(
      {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) std::_Exit(2);
        if (::access(path.c_str(), W_OK) == 0) std::_Exit(3);  // still writable: the test would prove nothing
        Outbox box(OptionsAt(path), clock);
        if (box.stats().store_ok) std::_Exit(4);
        box.Append(Connect("a"));
        box.Flush();
        std::_Exit(Users(box.Pending(10)) == std::vector<std::string>{"a"} ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
}

// Disk full in the middle of a run (SQLite's page cap stands in for the disk): the failed group stays in memory,
// nothing is lost, nothing crashes, the failure is counted.
TEST(OutboxTest, DiskFullMidRunKeepsTheGroupInMemory) {
  TempDir dir;
  FakeClock clock;
  auto o = OptionsAt(dir / "outbox.db");
  o.test_max_pages = 8;
  Outbox box(o, clock);
  ASSERT_TRUE(box.stats().store_ok);
  SessionEvent big = Connect("big");
  big.metadata["pad"] = std::string(2000, 'p');
  int appended = 0;
  while (box.stats().store_ok && appended < 200) {
    box.Append(big);
    box.Flush();
    ++appended;
  }
  const auto s = box.stats();
  EXPECT_FALSE(s.store_ok) << "the cap was never reached";
  EXPECT_GE(s.store_failures, 1u);
  EXPECT_GE(s.memory_depth, 1u);
  EXPECT_EQ(s.dropped_memory + s.dropped_full, 0u);
  // The failed event is still deliverable (from memory).
  EXPECT_FALSE(box.Pending(1000).empty());
}

TEST(OutboxTest, MemoryQueueIsBoundedWhileTheStoreIsDown) {
  TempDir dir;
  FakeClock clock;
  // A directory where the file should be: cannot be opened, cannot be moved aside as a file of ours either way.
  std::filesystem::create_directory(dir / "outbox.db");
  auto o = OptionsAt(dir / "outbox.db");
  o.max_memory_events = 2;
  Outbox box(o, clock);
  EXPECT_FALSE(box.stats().store_ok);
  for (const char* u : {"a", "b", "c"}) {
    box.Append(Connect(u));
    box.Flush();
  }
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(box.stats().dropped_memory, 1u);
}

// Found in review: the file cannot be opened when the agent starts, and opens later with an earlier run's rows in it.
// The events kept in memory meanwhile must not take seqs those rows have (the inserts would fail on every reopen and
// the events would never reach the file); they go after them, in order.
TEST(OutboxTest, AStoreThatOpensOnlyLaterKeepsAnEarlierRunsRowsAndTheNewEvents) {
  TempDir dir;
  FakeClock clock;
  auto o = OptionsAt(dir / "outbox.db");
  {
    Outbox earlier(o, clock);
    for (const char* u : {"a", "b", "c"}) earlier.Append(Connect(u));
    earlier.Flush();
  }
  std::filesystem::rename(o.path, dir / "saved.db");
  std::filesystem::create_directory(o.path);  // something else stands where the file should be
  Outbox box(o, clock);
  ASSERT_FALSE(box.stats().store_ok);
  for (const char* u : {"d", "e"}) box.Append(Connect(u));
  box.Flush();
  std::filesystem::remove(o.path);
  std::filesystem::rename(dir / "saved.db", o.path);
  clock.advance(std::chrono::seconds(31));
  box.Poke();
  box.Flush();
  EXPECT_TRUE(box.stats().store_ok);
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(box.stats().memory_depth, 0u) << "all in the file";
  EXPECT_EQ(box.stats().depth, 5u);
}

TEST(OutboxTest, AppendAfterStopIsCountedNotLost) {
  TempDir dir;
  FakeClock clock;
  Outbox box(OptionsAt(dir / "outbox.db"), clock);
  box.Append(Connect("a"));
  box.Stop();
  EXPECT_EQ(box.Append(Connect("late")), "");
  EXPECT_EQ(box.stats().dropped_memory, 1u);
  EXPECT_EQ(box.stats().committed, 1u) << "Stop applies what was queued";
}

// Pending is served from an in-memory copy of the file's rows while that copy is whole: after appends, removals,
// parks and drops at the bound it must list exactly what the file lists when read back by a new Outbox.
TEST(OutboxTest, PendingFromMemoryAgreesWithTheFile) {
  TempDir dir;
  FakeClock clock;
  auto o = OptionsAt(dir / "outbox.db");
  o.max_events = 40;
  std::vector<std::uint64_t> live_seqs;
  std::vector<std::string> live_ids;
  {
    Outbox box(o, clock);
    for (int i = 0; i < 60; ++i) {
      box.Append(Connect("u" + std::to_string(i), std::to_string(i)));
      if (i % 7 == 6) box.Flush();  // groups of several, and the bound checked in between
    }
    box.Flush();
    int n = 0;
    for (const auto& e : box.Pending(1000)) {
      if (n % 3 == 0) box.Remove(e.seq);
      if (n % 5 == 1) box.Park(e.seq, "INVALID_ARGUMENT");
      ++n;
    }
    box.Flush();
    for (const auto& e : box.Pending(1000)) {
      live_seqs.push_back(e.seq);
      live_ids.push_back(e.event_id);
    }
    EXPECT_EQ(box.stats().depth, live_seqs.size());
    EXPECT_GT(box.stats().dropped_full, 0u);
  }
  Outbox again(o, clock);
  std::vector<std::uint64_t> file_seqs;
  std::vector<std::string> file_ids;
  for (const auto& e : again.Pending(1000)) {
    file_seqs.push_back(e.seq);
    file_ids.push_back(e.event_id);
  }
  EXPECT_FALSE(file_seqs.empty());
  EXPECT_EQ(live_seqs, file_seqs);
  EXPECT_EQ(live_ids, file_ids);
}

// Beyond kMirrorMax pending events Pending reads the file; once it is empty again the copy starts over.
TEST(OutboxTest, ALongBacklogIsReadFromTheFileAndTheCopyResumesOnceEmpty) {
  TempDir dir;
  FakeClock clock;
  Outbox box(OptionsAt(dir / "outbox.db"), clock);
  const std::size_t n = Outbox::kMirrorMax + 5;
  for (std::size_t i = 0; i < n; ++i) box.Append(Connect("u" + std::to_string(i), std::to_string(i)));
  box.Flush();
  EXPECT_EQ(Users(box.Pending(2)), (std::vector<std::string>{"u0", "u1"}));
  auto all = box.Pending(n + 10);
  ASSERT_EQ(all.size(), n);
  for (std::size_t i = 0; i + 1 < n; ++i) box.Remove(all[i].seq);
  box.Flush();
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"u" + std::to_string(n - 1)}));
  box.Remove(all[n - 1].seq);
  box.Flush();
  EXPECT_TRUE(box.Pending(10).empty());
  EXPECT_EQ(box.stats().depth, 0u);
  const auto at = clock.wall_now();
  box.Append(Connect("x"));
  box.Flush();
  EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"x"}));
  EXPECT_EQ(box.stats().oldest_written_at, at);
}

// Removals alone wait (removal_linger) for company, but never hold up Flush, an append, or Stop.
TEST(OutboxTest, HeldBackRemovalsGoWithTheNextAppendFlushOrStop) {
  TempDir dir;
  FakeClock clock;
  auto o = OptionsAt(dir / "outbox.db");
  o.removal_linger = std::chrono::hours(1);  // so that only the events below can end the wait
  std::promise<std::uint64_t> removed_at_commit;
  std::atomic<bool> armed{false};
  {
    Outbox box(o, clock);
    box.SetOnPending([&] {
      if (armed.exchange(false)) removed_at_commit.set_value(box.stats().removed);
    });
    for (const char* u : {"a", "b", "c", "d"}) box.Append(Connect(u));
    box.Flush();
    auto p = box.Pending(10);
    ASSERT_EQ(p.size(), 4u);
    box.Remove(p[0].seq);
    box.Flush();  // returns: Flush does not linger
    EXPECT_EQ(box.stats().removed, 1u);
    box.Remove(p[1].seq);
    armed = true;
    box.Append(Connect("e"));  // the held-back removal goes in this group
    EXPECT_EQ(removed_at_commit.get_future().get(), 2u);
    box.Remove(p[2].seq);
  }  // Stop applies the held-back removal
  Outbox again(o, clock);
  EXPECT_EQ(Users(again.Pending(10)), (std::vector<std::string>{"d", "e"}));
}

// Appends after an idle spell are gathered for group_window into one commit, but Flush and Stop never wait for it.
TEST(OutboxTest, TheGroupWindowNeverHoldsUpFlushOrStop) {
  TempDir dir;
  FakeClock clock;
  auto o = OptionsAt(dir / "outbox.db");
  o.group_window = std::chrono::hours(1);  // so that only Flush or Stop can end it
  {
    Outbox box(o, clock);
    box.Append(Connect("a"));
    box.Append(Connect("b"));
    box.Flush();
    EXPECT_EQ(box.stats().committed, 2u);
    EXPECT_EQ(Users(box.Pending(10)), (std::vector<std::string>{"a", "b"}));
    box.Append(Connect("c"));
  }  // Stop commits c
  Outbox again(o, clock);
  EXPECT_EQ(Users(again.Pending(10)), (std::vector<std::string>{"a", "b", "c"}));
}

// Under a steady stream the writer starts a group at most once per group_window, not after every event or two: the
// count of transactions is bounded by the elapsed time (a property of the loop, whatever the machine's speed).
TEST(OutboxTest, ASteadyStreamIsCommittedAtMostOnceAWindow) {
  TempDir dir;
  FakeClock clock;
  auto o = OptionsAt(dir / "outbox.db");
  o.group_window = std::chrono::milliseconds(20);
  Outbox box(o, clock);
  const auto start = std::chrono::steady_clock::now();
  int appended = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(200)) {
    box.Append(Connect("u" + std::to_string(appended), std::to_string(appended)));
    ++appended;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  box.Flush();
  const auto s = box.stats();
  EXPECT_EQ(s.committed, static_cast<std::uint64_t>(appended));
  EXPECT_LE(s.groups, static_cast<std::uint64_t>(elapsed / o.group_window) + 2) << appended << " appends";
  EXPECT_GE(s.groups, 2u);
}

// The sender reads on after the last seq it has (event_sender.h): from the in-memory copy and from the file alike.
TEST(OutboxTest, PendingAfterASeqSkipsWhatCameBefore) {
  TempDir dir;
  FakeClock clock;
  auto o = OptionsAt(dir / "outbox.db");
  {
    Outbox box(o, clock);
    for (const char* u : {"a", "b", "c", "d", "e"}) box.Append(Connect(u));
    box.Flush();
    const auto all = box.Pending(10);
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(Users(box.Pending(2, all[1].seq)), (std::vector<std::string>{"c", "d"}));
    box.Remove(all[2].seq);
    box.Flush();
    EXPECT_EQ(Users(box.Pending(10, all[1].seq)), (std::vector<std::string>{"d", "e"}));
    EXPECT_TRUE(box.Pending(10, all[4].seq).empty());
  }
  Outbox again(o, clock);  // an earlier run's events: read from the file
  const auto all = again.Pending(10);
  ASSERT_EQ(Users(all), (std::vector<std::string>{"a", "b", "d", "e"}));
  EXPECT_EQ(Users(again.Pending(10, all[1].seq)), (std::vector<std::string>{"d", "e"}));
}

TEST(OutboxTest, WakesTheSenderAfterACommit) {
  TempDir dir;
  FakeClock clock;
  Outbox box(OptionsAt(dir / "outbox.db"), clock);
  std::atomic<int> wakes{0};
  box.SetOnPending([&] { wakes.fetch_add(1); });
  box.Append(Connect("a"));
  box.Flush();
  EXPECT_GE(wakes.load(), 1);
}

}  // namespace
}  // namespace oa

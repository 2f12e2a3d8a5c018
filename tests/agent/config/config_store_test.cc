#include "agent/config/config_store.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace oa {
namespace {

std::shared_ptr<const Config> WithId(const std::string& id) {
  auto c = std::make_shared<Config>();
  c->agent.id = id;
  return c;
}

TEST(ConfigStoreTest, ReplaceSwapsTheWholeConfigAndCountsGenerations) {
  ConfigStore store(WithId("one"));
  EXPECT_EQ(store.generation(), 1u);
  auto held = store.Current();
  EXPECT_EQ(store.Replace(WithId("two")), 2u);
  EXPECT_EQ(store.Current()->agent.id, "two");
  EXPECT_EQ(held->agent.id, "one");  // a reader's snapshot stays valid and unchanged
  EXPECT_EQ(store.generation(), 2u);
}

TEST(ConfigStoreTest, ReadersSeeOnlyWholeConfigsWhileReloading) {
  ConfigStore store(WithId("0"));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto c = store.Current();
        if (c == nullptr || c->agent.id.empty()) bad.fetch_add(1);
      }
    });
  }
  for (int i = 1; i <= 2000; ++i) store.Replace(WithId(std::to_string(i)));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(store.Current()->agent.id, "2000");
  EXPECT_EQ(store.generation(), 2001u);
}

// Issue 13: the config_last_reload_* metrics read this record. The start counts as a successful load; a rejected
// reload says so until the next good one, and never moves the success time.
TEST(ConfigStoreTest, RecordsHowTheLastLoadWent) {
  const auto before = std::chrono::system_clock::now();
  ConfigStore store(WithId("one"));
  ConfigLoadRecord r = store.load_record();
  EXPECT_TRUE(r.last_successful);
  EXPECT_GE(r.last_success, before);
  EXPECT_EQ(r.applied, 0u);
  EXPECT_EQ(r.rejected, 0u);
  const auto started = r.last_success;

  store.RecordRejectedReload();
  r = store.load_record();
  EXPECT_FALSE(r.last_successful);
  EXPECT_EQ(r.last_success, started);
  EXPECT_EQ(r.rejected, 1u);
  EXPECT_EQ(store.Current()->agent.id, "one") << "a rejected reload changes nothing else";

  store.Replace(WithId("two"));
  r = store.load_record();
  EXPECT_TRUE(r.last_successful);
  EXPECT_GE(r.last_success, started);
  EXPECT_EQ(r.applied, 1u);
  EXPECT_EQ(r.rejected, 1u);
}

}  // namespace
}  // namespace oa

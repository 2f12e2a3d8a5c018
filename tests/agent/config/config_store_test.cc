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

}  // namespace
}  // namespace oa

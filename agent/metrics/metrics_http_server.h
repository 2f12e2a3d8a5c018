// MetricsHttpServer: a deliberately small HTTP/1.1 server for Prometheus scrapes — GET /metrics answers with whatever
// `render` returns (FormatPrometheus), every other path is 404, every other method 405, and each connection carries
// one request (Connection: close). No external dependency: plain sockets and poll().
//
// Bounded by construction: one thread serves every connection (non-blocking sockets, one poll loop); a request line
// plus headers above max_request_bytes is refused (431); a connection that has not sent its whole request, or not
// taken its whole reply, within read_timeout is closed; at max_connections a new connection closes the oldest one that
// has not sent a whole request yet (idle connections cannot keep a scraper out), and only when every connection is
// already being answered is the new one closed at once. When accept() fails (descriptor exhaustion) the listener is
// left alone for 100 ms instead of being retried in a busy loop. Each of these is counted (counters()) and logged at
// warning, rate-limited.
//
// Lifecycle: construct, Start() (binds `listen`, "host:port" or "[v6]:port"; port 0 picks a free one, see port()),
// Stop() (idempotent; the destructor calls it). Thread-safety: Start/Stop from one thread; port() after Start and
// counters() from any thread. `render` runs on the server's thread, one call at a time; it must be thread-safe with
// respect to whatever it reads and must not block for long (a scrape waits for it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "agent/metrics/agent_snapshot.h"
#include "resilience/clock.h"

namespace oa {

struct MetricsHttpServerOptions {
  std::string listen = "127.0.0.1:9102";
  std::size_t max_request_bytes = 8192;
  std::chrono::milliseconds read_timeout{5000};
  std::size_t max_connections = 16;
};

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;

  // `clock` must outlive the server (it times the read timeout).
  MetricsHttpServer(MetricsHttpServerOptions options, Render render, const Clock& clock);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds and starts the thread. An error names the address.
  absl::Status Start();
  int port() const { return port_; }
  void Stop();

  MetricsHttpCountersSnapshot counters() const;

 private:
  struct Loop;

  const MetricsHttpServerOptions options_;
  Render render_;
  const Clock& clock_;
  int port_ = 0;
  std::unique_ptr<Loop> loop_;
};

}  // namespace oa

#include "agent/daemon/decision_path.h"

#include <spdlog/spdlog.h>

#include "agent/authorizer/session_events.h"
#include "agent/enforcement/grpc_session_validator.h"
#include "agent/portal/grpc_portal_client.h"
#include "agent/portal/grpc_event_delivery.h"
#include "agent/portal/portal_channel.h"
#include "common/thread_priority.h"
#include "grpcpp/channel.h"

namespace oa {
namespace {

constexpr int kBackgroundNice = 10;  // the outbox writer and the event sender (common/thread_priority.h)

AuthorizerSettings SettingsOf(const Config& c) {
  AuthorizerSettings s;
  s.portal_timeout = c.portal.timeout;
  s.agent_id = c.agent.id;
  s.fail_mode = c.resilience.fail;
  return s;
}

// Every breaker transition is a log line: opening is what an operator must see at once.
void LogTransition(const BreakerTransition& t) {
  const auto level = t.to == BreakerState::kOpen ? spdlog::level::warn : spdlog::level::info;
  spdlog::log(level, "circuit breaker {} -> {} ({}), generation {}{}", to_string(t.from), to_string(t.to), t.reason,
              t.generation,
              t.to == BreakerState::kOpen && t.open_for.count() > 0
                  ? fmt::format(", open for {} ms", t.open_for.count())
                  : std::string());
}

}  // namespace

DecisionPath::DecisionPath(const Config& config, const Clock& clock) : clock_(clock), started_with_(config) {}

DecisionPath::~DecisionPath() { Stop(clock_.now()); }

absl::StatusOr<std::unique_ptr<DecisionPath>> DecisionPath::Create(const Config& config, const Clock& clock) {
  auto key_builder = CacheKeyBuilder::Create(config.resilience.cache.key_fields);
  if (!key_builder.ok()) return key_builder.status();
  // One channel for CheckPolicy, the policy stream and the re-checks. The event delivery keeps a connection of its
  // own on purpose: draining a long outage's backlog puts up to 256 reports in flight, and a portal that limits
  // concurrent HTTP/2 streams would otherwise queue connects behind them.
  auto channel = MakePortalChannel(config.portal);
  if (!channel.ok()) return channel.status();

  std::unique_ptr<DecisionPath> p(new DecisionPath(config, clock));
  p->channel_ = *std::move(channel);
  p->portal_ = MakeGrpcPortalClient(p->channel_, clock, config.portal.address);
  if (config.portal.report_events) {
    // agent.id as started: like the portal connection, a changed id reaches the reports after a restart.
    auto delivery =
        MakeGrpcEventDelivery(config.portal, clock, config.agent.id, /*max_in_flight=*/256, kBackgroundNice);
    if (!delivery.ok()) return delivery.status();
    p->delivery_ = *std::move(delivery);
    // Decisions first: the writer, the sender and the reports' completions run at nice 10, so a waking decision
    // thread gets the CPU first.
    OutboxOptions oo = config.events.outbox;
    oo.writer_nice = kBackgroundNice;
    p->outbox_ = std::make_unique<Outbox>(oo, clock);  // never fails: degraded modes instead
    p->sender_timer_ = std::make_unique<TimerThread>();
    p->sender_timer_->RunAt(clock.now(), [] {
      if (!NiceThisThread(kBackgroundNice)) spdlog::warn("events: could not lower the sender thread's priority");
    });
    EventSenderOptions so;
    so.max_delay = config.events.max_delivery_delay;  // decisions first: delivery holds back while connects come
    p->sender_ = std::make_unique<EventSender>(*p->outbox_, *p->delivery_, *p->sender_timer_, clock, so);
  }
  DecisionPath* raw = p.get();
  // The portal is reachable again when the breaker closes: re-check the sessions admitted during the outage (on the
  // timer thread, not under the breaker's lock).
  p->breaker_ = std::make_unique<CircuitBreaker>(
      config.resilience.circuit_breaker, clock, [raw](const BreakerTransition& t) {
        LogTransition(t);
        if (t.to == BreakerState::kClosed && t.from != BreakerState::kClosed &&
            raw->started_with_.enforcement.recheck_after_outage && raw->timer_ && raw->session_enforcer_) {
          raw->timer_->RunAt(raw->clock_.now(), [raw] {
            raw->session_enforcer_->RecheckDegraded("circuit breaker closed: the portal is back");
          });
        }
      });
  p->cache_ = std::make_unique<DecisionCache>(config.resilience.cache, clock);
  p->timer_ = std::make_unique<TimerThread>();
  const auto& enf = config.enforcement;
  p->revocations_ = std::make_unique<RevocationTable>(clock, enf.revocation_ttl);
  p->occtl_ = MakeOcctlPort(config.ocserv, enf.disconnect_timeout, clock);
  p->validator_ = MakeGrpcSessionValidator(p->channel_, config.portal.timeout, config.agent.id, clock);
  // Before the enforcer: its forced disconnects are recorded in the outbox through it, like ocserv's own.
  p->session_events_ = std::make_unique<SessionEventRecorder>(p->sessions_, p->counters_, p->outbox_.get(), clock);
  p->session_enforcer_ = std::make_unique<SessionEnforcer>(
      SessionEnforcer::Deps{clock, *p->timer_, p->sessions_, *p->occtl_, p->session_events_.get(),
                            p->validator_.get()},
      SessionEnforcer::Options{enf.disconnect_concurrency, 200'000, enf.recheck_rate});
  if (p->delivery_) {
    // A ReportSessionUpdate answered with should_disconnect ends the session like a failed re-check (reported once,
    // with the portal's reason, by ocserv's disconnect-script event).
    p->delivery_->SetOnDisconnectRequested(
        [raw](const std::string& session_id, const std::string& username, const std::string& reason) {
          raw->session_enforcer_->DisconnectRequested(session_id, username, reason);
        });
  }
  p->policy_enforcer_ = std::make_unique<PolicyEnforcer>(
      PolicyEnforcer::Deps{*p->revocations_, *p->cache_, p->session_enforcer_.get()});
  if (enf.watch) {
    WatchClientOptions wo;
    wo.agent_id = config.agent.id;
    wo.portal_address = config.portal.address;
    p->watch_ = std::make_unique<WatchClient>(
        p->channel_,
        WatchClient::Deps{clock, *p->timer_, *p->policy_enforcer_,
                          [raw] {
                            // The portal answers again. An open breaker would keep refusing until its open timeout,
                            // and a Resync has just dropped the stale entries the fail mode answers from: probe now.
                            if (raw->breaker_->OnPeerReachable()) {
                              spdlog::info("policy stream reconnected while the circuit breaker was open: the next "
                                           "decision probes the portal");
                            }
                            if (raw->started_with_.enforcement.recheck_after_outage) {
                              raw->session_enforcer_->RecheckDegraded("policy stream reconnected");
                            }
                          }},
        wo);
  }
  p->authorizer_ = std::make_unique<PolicyAuthorizer>(
      PolicyAuthorizer::Deps{clock, *p->portal_, *p->breaker_, *p->cache_, *p->timer_, p->counters_, &p->sessions_,
                             p->revocations_.get()},
      std::move(*key_builder), SettingsOf(config));
  p->ipc_ = std::make_unique<IpcServer>(config.ipc, *p->authorizer_, p->session_events_.get(), clock);
  return p;
}

void DecisionPath::SchedulePeriodic(std::chrono::milliseconds every, std::function<void()> task) {
  if (every.count() <= 0) return;
  std::weak_ptr<int> alive = periodic_alive_;
  auto shared = std::make_shared<std::function<void()>>();
  *shared = [this, alive, every, task = std::move(task), weak = std::weak_ptr<std::function<void()>>(shared)] {
    if (alive.expired()) return;
    task();
    if (auto self = weak.lock()) timer_->RunAt(clock_.now() + every, *self);
  };
  periodic_tasks_.push_back(shared);
  timer_->RunAt(clock_.now() + every, *shared);
}

absl::Status DecisionPath::Start() {
  if (ipc_started_) return absl::OkStatus();
  // Live enforcement first: the registry is rebuilt from ocserv before helpers are answered.
  periodic_alive_ = std::make_shared<int>(0);
  session_enforcer_->Start();
  session_enforcer_->ReconcileNow();
  SchedulePeriodic(started_with_.ocserv.reconcile_interval, [this] { session_enforcer_->ReconcileNow(); });
  if (outbox_) {
    SchedulePeriodic(started_with_.events.session_update_interval,
                     [this] { session_enforcer_->ReportSessionUpdates(); });
  }
  SchedulePeriodic(started_with_.enforcement.recheck_interval,
                   [this] { session_enforcer_->RecheckAll("enforcement.recheck_interval"); });
  SchedulePeriodic(std::chrono::minutes(1), [this] {
    for (const Revocation& r : revocations_->ExpireDue()) {
      spdlog::info("revocation of {} expired (enforcement.revocation_ttl)", Describe(r.subject));
    }
  });
  if (watch_) {
    watch_->Start();
  } else {
    spdlog::info("policy stream disabled (enforcement.watch: false): revocations come only from re-checks and the "
                 "management API");
  }
  if (sender_) sender_->Start();  // events left by an earlier run go out from now on
  absl::Status s = ipc_->Start();
  if (!s.ok()) return s;
  ipc_started_ = true;
  spdlog::info("decision path ready: socket {}, portal {}, fail mode {} (stale fallback {})",
               started_with_.ipc.socket_path, started_with_.portal.address,
               to_string(started_with_.resilience.fail.fail_mode),
               to_string(started_with_.resilience.fail.stale_fallback));
  return absl::OkStatus();
}

void DecisionPath::Stop(Clock::MonoTime deadline) {
  if (!ipc_) return;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.now()));
  };
  // The IPC server first: it drains the requests in flight (their answers come from the portal, cache or fail mode
  // within the decision timeout); then the portal client finishes what is left; then nothing can schedule a timer.
  if (ipc_started_) ipc_->Stop(left());
  ipc_started_ = false;
  // Live enforcement next: no more events, disconnects or re-checks (they call the portal and the reporter).
  periodic_alive_.reset();
  if (watch_) watch_->Shutdown();
  if (session_enforcer_) session_enforcer_->Stop();
  if (portal_) portal_->Shutdown(left());
  // After the IPC server: the last events it recorded are in the outbox, delivered now or after the next start.
  if (sender_) sender_->Stop();
  if (delivery_) delivery_->Shutdown(left());
  if (outbox_) outbox_->Stop();
  if (sender_timer_) sender_timer_->Stop();
  timer_->Stop();
}

void DecisionPath::Reload(const Config& c) {
  const FailModeOptions running = authorizer_->settings().fail_mode;
  const FailModeOptions& file = c.resilience.fail;
  if (running.fail_mode != file.fail_mode || running.stale_fallback != file.stale_fallback) {
    spdlog::warn("config reload: fail mode {} (stale fallback {}) replaced by the file's {} (stale fallback {}); a "
                 "mode set at run time through the management API does not survive a reload",
                 to_string(running.fail_mode), to_string(running.stale_fallback), to_string(file.fail_mode),
                 to_string(file.stale_fallback));
  }
  // What a reload cannot change is named once, for the whole daemon, in reload_plan.cc.
  authorizer_->UpdateSettings(SettingsOf(c));
  breaker_->UpdateOptions(c.resilience.circuit_breaker);
  // The enforcement keys a reload applies (reload_plan.cc leaves them out); the others need a restart.
  revocations_->SetTtl(c.enforcement.revocation_ttl);  // for revocations made from now on
  session_enforcer_->SetRecheckRate(c.enforcement.recheck_rate);
}

}  // namespace oa

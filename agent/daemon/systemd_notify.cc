#include "agent/daemon/systemd_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>
#include <string>

namespace oa {
namespace {

void Send(const std::string& message) {
  // unset_environment=0: the daemon notifies more than once. Errors are ignored on purpose: a notify socket that
  // went away must not stop the agent from serving.
  ::sd_notify(0, message.c_str());
}

std::string OneLine(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

}  // namespace

void SystemdNotifier::Ready(std::string_view status) { Send("READY=1\nSTATUS=" + OneLine(status)); }

void SystemdNotifier::Reloading() {
  // MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match this to the reload it asked for; older ones ignore it.
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  std::uint64_t usec = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
  Send("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" + std::to_string(usec));
}

void SystemdNotifier::Stopping() { Send("STOPPING=1\nSTATUS=stopping"); }

void SystemdNotifier::Status(std::string_view status) { Send("STATUS=" + OneLine(status)); }

}  // namespace oa

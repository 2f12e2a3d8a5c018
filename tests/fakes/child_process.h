// ChildProcess: runs a real binary for an integration test, with its stdout and stderr captured in files (a chatty
// child can never block on a full pipe) and extra environment variables. The destructor SIGKILLs and reaps a child
// that is still running, so a failing test never leaves a process behind; PR_SET_PDEATHSIG covers a crashing test.
// Waiting polls with a bounded deadline: no test sleeps blindly.
// Thread-safety: none; one test owns it.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace oa::testing {

class ChildProcess {
 public:
  // argv[0] is the binary's path. Output goes to `output_prefix`.stdout / .stderr.
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
               const std::string& output_prefix)
      : stdout_path_(output_prefix + ".stdout"), stderr_path_(output_prefix + ".stderr") {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    for (const auto& e : extra_env) env_strings.push_back(e);
    std::vector<char*> args, env;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& e : env_strings) env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);
    int out = ::open(stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0 || err < 0) throw std::runtime_error("cannot create output files at " + output_prefix);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execve(args[0], args.data(), env.data());
      ::_exit(127);
    }
    ::close(out);
    ::close(err);
  }

  ~ChildProcess() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return !exit_code_.has_value(); }
  void Signal(int sig) {
    if (running()) ::kill(pid_, sig);
  }

  // The exit code (128 + signal number when killed by one), or nullopt if still running at the deadline.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exit_code_;
  }

  std::string Stdout() const { return ReadAll(stdout_path_); }
  std::string Stderr() const { return ReadAll(stderr_path_); }

  // Polls stderr until it contains `needle` (true) or the deadline passes (false).
  bool WaitForStderr(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (Stderr().find(needle) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Runs to completion (bounded): the exit code, or nullopt if it had to be killed.
  static std::optional<int> Run(const std::vector<std::string>& argv, const std::string& output_prefix,
                                std::string* out, std::string* err,
                                std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    ChildProcess p(argv, {}, output_prefix);
    auto code = p.WaitExit(timeout);
    if (out) *out = p.Stdout();
    if (err) *err = p.Stderr();
    return code;
  }

 private:
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string stdout_path_, stderr_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

}  // namespace oa::testing

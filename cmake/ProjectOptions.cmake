# oa_warnings: the flags every target of ours builds with. Link it PRIVATE into each project target.
add_library(oa_warnings INTERFACE)
target_compile_options(oa_warnings INTERFACE -Wall -Wextra -Werror)

# Hardening: the flags Debian's dpkg-buildflags gives packages with hardening=+all (stack protector, format checks,
# FORTIFY, full RELRO, PIE), for every target of a normal build, tests included, so that what CI tests is what
# ships. Sanitizer builds are instrumentation for tests, never shipped: they keep their own flags.
# _FORTIFY_SOURCE needs optimisation (glibc warns at -O0, and -Werror would fail a Debug build).
if(NOT OA_SANITIZE)
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  include(CheckPIESupported)
  check_pie_supported()
  add_compile_options(-fstack-protector-strong -Wformat -Werror=format-security)
  add_compile_definitions($<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
  add_link_options(-Wl,-z,relro -Wl,-z,now)
endif()

if(OA_SANITIZE)
  add_compile_options(-fsanitize=${OA_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${OA_SANITIZE})
endif()

# oa_add_test(NAME SOURCES... LIBS ...): one GoogleTest binary, each TEST registered with CTest.
function(oa_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} oa_test_fakes GTest::gtest GTest::gmock GTest::gtest_main oa_warnings)
  # CMake 3.25's gtest_discover_tests cannot pass a list of labels, so they are joined into one ("unit-tsan");
  # ctest -L takes a regular expression, so `ctest -L tsan` still selects it.
  string(REPLACE ";" "-" joined_labels "${T_LABELS}")
  gtest_discover_tests(${name} PROPERTIES LABELS "${joined_labels}")
  foreach(label IN LISTS T_LABELS)
    set_property(GLOBAL APPEND PROPERTY OA_TESTS_LABELLED_${label} ${name})
  endforeach()
endfunction()

# oa_add_label_targets(): one target per label, oa_label_<label>, that builds every test binary carrying it, so that
# the sanitizer builds compile only what they run. Call once, after every test was added.
function(oa_add_label_targets)
  foreach(label unit tsan integration e2e sim)
    get_property(bins GLOBAL PROPERTY OA_TESTS_LABELLED_${label})
    add_custom_target(oa_label_${label})
    if(bins)
      add_dependencies(oa_label_${label} ${bins})
    endif()
  endforeach()
endfunction()

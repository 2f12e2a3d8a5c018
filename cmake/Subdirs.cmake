# oa_add_subdirectory_if_exists(dir): lets each area add its own folder without editing a shared CMakeLists.
function(oa_add_subdirectory_if_exists dir)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
    add_subdirectory(${dir})
  endif()
endfunction()

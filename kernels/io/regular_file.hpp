// Opening data files: only regular files are read as data. A FIFO or a device named as a data file
// would block a read forever (or never end), and a directory has no meaningful size. The file is
// opened with O_NONBLOCK (so opening a FIFO does not wait for a writer) and its kind is checked on
// the open descriptor, so nothing can swap it between the check and the read. Header-only (POSIX
// only), so every kernels/ library can use it without a link dependency.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ft::io {

// "a directory", "a FIFO (named pipe)", ... for a file that is not a regular one.
inline const char* file_kind_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// An open read-only descriptor of the regular file at path (the caller closes it), with its size.
// Throws std::runtime_error "<path>: <what>" when it cannot be opened or is not a regular file.
inline int open_regular_file(const std::string& path, std::size_t* size = nullptr) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::runtime_error(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(path + ": is " + file_kind_name(st.st_mode) + ", not a regular file");
  }
  if (size) *size = static_cast<std::size_t>(st.st_size);
  return fd;
}

// The whole regular file at path as text (labels CSVs and the like; not for large data).
inline std::string read_regular_file(const std::string& path) {
  std::size_t size = 0;
  const int fd = open_regular_file(path, &size);
  std::string out;
  out.reserve(size);
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw std::runtime_error(path + ": read error: " + std::strerror(e));
    }
    out.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  return out;
}

}  // namespace ft::io

// Tar archives as WebDataset stores samples in them. The writer makes POSIX ustar members
// (512-byte header with its checksum, data padded to 512 bytes, two zero blocks at the end); the
// reader lists the regular files of any ustar, GNU or pax tar (GNU long names and pax `path`
// records included) without extracting anything, refusing what a shard never holds: absolute
// names, `..` components, sizes beyond the end of the file, bad header checksums.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ft::tar {

inline constexpr std::uint64_t kBlock = 512;

// size rounded up to whole 512-byte blocks.
constexpr std::uint64_t padded(std::uint64_t size) { return (size + kBlock - 1) / kBlock * kBlock; }

// The ustar header of a regular file (mode 0644, owner 0, mtime 0 so that a pack is reproducible).
// The name must fit ustar's 100 bytes; std::invalid_argument otherwise.
std::array<char, kBlock> file_header(const std::string& name, std::uint64_t size);

// A regular file of the archive: its name and where its bytes lie in the archive file.
struct Member {
  std::string name;
  std::uint64_t offset = 0;  // of the data (the header is the block before it, for plain ustar)
  std::uint64_t size = 0;
};

// Every regular file in the tar open on fd (file_size bytes), in archive order; directories,
// links and pax/GNU meta entries are skipped. Throws std::runtime_error "<path>: <where>: <what>"
// for a truncated archive, a header whose checksum fails, an unsafe name or an absurd size.
std::vector<Member> list_members(int fd, std::uint64_t file_size, const std::string& path);

// Whether a member name is safe to use as a sample key: relative, no `..` component, no NUL or
// control character, not empty.
bool safe_member_name(const std::string& name);

// Reads exactly size bytes at offset; std::runtime_error naming path on a short read or error.
void pread_exact(int fd, void* out, std::uint64_t size, std::uint64_t offset,
                 const std::string& path);

}  // namespace ft::tar

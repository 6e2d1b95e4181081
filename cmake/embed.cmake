# Turns a text file into a C string literal (for assets compiled into a binary).
# Usage: cmake -DIN=file -DOUT=file.inc -P embed.cmake
file(READ "${IN}" content)
string(REPLACE "\\" "\\\\" content "${content}")
string(REPLACE "\"" "\\\"" content "${content}")
# '?' is escaped so that no "??x" sequence becomes a C trigraph under -std=c17.
string(REPLACE "?" "\\?" content "${content}")
string(REPLACE "\n" "\\n\"\n\"" content "${content}")
file(WRITE "${OUT}" "\"${content}\"\n")

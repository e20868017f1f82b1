// The GoogleTest example shown in README.md, kept compiling and passing.
#include "nstest/gtest.h"

using namespace nstest;
using namespace std::chrono_literals;

class ListenQueueTest : public NetnsTest {};

TEST_F(ListenQueueTest, ExtraSynIsDroppedAndCountedInTheServerOnly) {
  SetSysctl(server(), "net.ipv4.tcp_abort_on_overflow", "1");  // recorded as a test property
  Listen(8080, /*backlog=*/2);
  Connections c = ConnectToServer(8080, 3);
  EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, 3));
  WaitForAcceptQueue(8080, 3);
  EXPECT_THAT(ServerListener(8080), AcceptQueueIs(3));
  EXPECT_THAT(ServerListener(8080), BacklogIs(2));
  Connections next = ConnectToServer(8080, 1, ConnectMode::kSequential, 300ms);
  EXPECT_THAT(next, HasOutcomes(ConnectResult::kPending, 1));
  WaitForCounter(server(), "TcpExtListenOverflows", 1);
  EXPECT_THAT(CounterChanges(client()), CounterIs("TcpExtListenOverflows", 0));
}

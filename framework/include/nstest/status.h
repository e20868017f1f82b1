// How a case ended: shared by the suite engine that runs cases and the reports that show them.
#ifndef NSTEST_STATUS_H_
#define NSTEST_STATUS_H_

namespace nstest {

enum class CaseStatus { kPassed, kFailed, kError, kSkipped };

}  // namespace nstest

#endif  // NSTEST_STATUS_H_

"""The tracking sheet (投诉处理进度跟踪表) as a state machine: stages, allowed transitions.

A ticket's status is the stage of its last stage event (`received` at intake). From each status only
some stages may follow (`ALLOWED`); anything else is refused with the allowed list. A ticket is
closed only after it was resolved, and when the customer does not confirm the solution (feedback
`not`, 不满意) only with a note saying why; after `closed` only `reopened` may follow.

First response = the first `customer_contacted` or `resolved` event (the customer heard from
us); resolution = the last `resolved` event of a ticket that is resolved or closed (a reopen
clears it).
"""

from __future__ import annotations

CLOSED = "closed"
"""The status of a closed ticket (已闭环): no deadline is pending, only a reopen may follow."""
RESOLVED = "resolved"
"""The status of a resolved ticket (已解决) waiting for the customer's confirmation: open, but no
deadline is pending (resolving meets both), only closing or a reopen may follow."""
STATUS_NAMES = {
    "received": "已登记",
    "assigned": "已分派",
    "in_progress": "处理中",
    "customer_contacted": "已联系客户",
    "escalated": "已升级",
    "resolved": "已解决",
    "closed": "已闭环",
    "reopened": "重新打开",
}
# Events that are not stage changes (the status stays): an agent's review of the labels, and the
# deadline sweep's escalations (api.services.deadline_escalation): of a near or passed deadline to
# the supervisor, and of one that passed unmet after it to the department head.
EVENT_NAMES = {
    **STATUS_NAMES,
    "reviewed": "已审核",
    "deadline_escalated": "时限升级至主管",
    "deadline_head_escalated": "时限超时升级至部门负责人",
    "urgent_head_escalated": "紧急投诉升级至部门负责人",
}
STAGES = tuple(code for code in STATUS_NAMES if code != "received")
OPEN_STATUSES = tuple(code for code in STATUS_NAMES if code != CLOSED)

_WORKING = ("assigned", "in_progress", "customer_contacted", "escalated", "resolved")
ALLOWED: dict[str, tuple[str, ...]] = {
    "received": _WORKING,
    "assigned": _WORKING,
    "in_progress": ("assigned", "customer_contacted", "escalated", "resolved"),
    "customer_contacted": _WORKING,
    "escalated": ("assigned", "in_progress", "customer_contacted", "resolved"),
    "reopened": _WORKING,
    "resolved": ("closed", "reopened"),
    "closed": ("reopened",),
}
FIRST_RESPONSE_STAGES = ("customer_contacted", "resolved")

FEEDBACK_NAMES = {"satisfied": "满意", "mostly": "基本满意", "not": "不满意"}
# The closing feedback that is no confirmation that the problem is solved: closing needs a comment then.
UNCONFIRMED = "not"
# The closing feedback that confirms the solution: the closures the closure-confirmation rate counts
# as confirmed (`training.monthly.CONFIRMING_FEEDBACK` says the same for exports).
CONFIRMING_FEEDBACK = tuple(code for code in FEEDBACK_NAMES if code != UNCONFIRMED)


def allowed_next(status: str) -> tuple[str, ...]:
    """The stages that may follow a status."""
    return ALLOWED.get(status, ())


def can_follow(status: str, stage: str) -> bool:
    """True when `stage` may be recorded on a ticket whose status is `status`."""
    return stage in allowed_next(status)

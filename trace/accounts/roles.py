"""Who may do what: three roles, and one table of their permissions.

An investigator works cases; a supervisor also moves leads along the workflow, exports
dossiers, sees identity data unmasked (with a reason) and reads the audit log; an admin keeps
the accounts and loads the data, and is no supervisor unless given that role too.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from rxtrace.trace.errors import PermissionDeniedError

__all__ = ["MATRIX", "Permission", "Role", "allows", "require"]


class Role(StrEnum):
    investigator = "investigator"
    supervisor = "supervisor"
    admin = "admin"


class Permission(StrEnum):
    resolve = "resolve"
    scan = "scan"
    cases = "cases"
    """Read cases and seizures, with their boxes."""
    leads_read = "leads.read"
    leads_note = "leads.note"
    leads_investigate = "leads.investigate"
    """Move a new lead to investigating."""
    leads_workflow = "leads.workflow"
    """Escalate, close and reopen leads."""
    graph = "graph"
    timeline = "timeline"
    geo = "geo"
    """Hot spots, routes and maps."""
    dossier = "dossier"
    reveal = "reveal"
    """See identity data unmasked, giving a reason."""
    audit = "audit"
    users = "users"
    loads = "loads"


_WORK = frozenset(
    {
        Permission.resolve,
        Permission.scan,
        Permission.cases,
        Permission.leads_read,
        Permission.leads_note,
        Permission.leads_investigate,
        Permission.graph,
        Permission.timeline,
        Permission.geo,
    }
)

MATRIX: Mapping[Role, frozenset[Permission]] = {
    Role.investigator: _WORK,
    Role.supervisor: _WORK
    | {Permission.leads_workflow, Permission.dossier, Permission.reveal, Permission.audit},
    Role.admin: frozenset({Permission.users, Permission.loads}),
}
"""Every role's permissions: the one place that says who may do what."""


def allows(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` has ``permission``.

    >>> allows("supervisor", Permission.reveal), allows("investigator", Permission.reveal)
    (True, False)
    >>> allows("admin", Permission.cases)
    False
    """
    return permission in MATRIX[Role(role)]


def require(role: Role | str, permission: Permission) -> None:
    """Refuse, saying what is missing, unless ``role`` has ``permission``."""
    if not allows(role, permission):
        raise PermissionDeniedError(f"The role {Role(role).value} may not do this ({permission.value}).")

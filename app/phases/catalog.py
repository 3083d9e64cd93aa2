"""The kinds of record an opportunity gathers: table, API shapes, and document key."""

from dataclasses import dataclass

from app.phases.diagnose.models import Problem
from app.phases.diagnose.schemas import ProblemCreate, ProblemRead, ProblemUpdate
from app.phases.discover.models import Stakeholder
from app.phases.discover.schemas import StakeholderCreate, StakeholderRead, StakeholderUpdate
from app.phases.records import OpportunityRecord
from app.schemas import Input, Patch, RecordRead


@dataclass(frozen=True)
class RecordKind:
    """One kind of record: its collection name (URL segment and document key) and shapes."""

    collection: str
    label: str
    model: type[OpportunityRecord]
    create: type[Input]
    update: type[Patch]
    read: type[RecordRead]


RECORD_KINDS: dict[str, RecordKind] = {
    kind.collection: kind
    for kind in (
        RecordKind("stakeholders", "stakeholder", Stakeholder, StakeholderCreate, StakeholderUpdate,
                   StakeholderRead),
        RecordKind("problems", "problem", Problem, ProblemCreate, ProblemUpdate, ProblemRead),
    )
}

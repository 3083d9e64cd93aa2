"""Every kind of record an opportunity gathers, phase by phase."""

from typing import Any

from app.phases.deploy import schemas as deploy
from app.phases.deploy.models import (Acceptance, BuyingSignal, Objection, Presentation, Promise, Task,
                                      ValueReview)
from app.phases.design import schemas as design
from app.phases.design.models import ProposalPreview, Proposition, ScopeItem, SolutionOption
from app.phases.diagnose import schemas as diagnose
from app.phases.diagnose.models import Problem, Qualification
from app.phases.discover import schemas as discover
from app.phases.discover.models import (AccountProfile, Activity, Competitor, DecisionProcess,
                                        MeetingPlan, PoliticsNote, Stakeholder)
from app.phases.records import RecordKind, json_bytes

_KINDS = (
    # Discover
    RecordKind("stakeholders", "stakeholder", Stakeholder, discover.StakeholderCreate,
               discover.StakeholderUpdate, discover.StakeholderRead),
    RecordKind("account_profile", "account_profile", AccountProfile, discover.AccountProfileCreate,
               discover.AccountProfileUpdate, discover.AccountProfileRead),
    RecordKind("competitors", "competitor", Competitor, discover.CompetitorCreate,
               discover.CompetitorUpdate, discover.CompetitorRead),
    RecordKind("decision_process", "decision_process", DecisionProcess, discover.DecisionProcessCreate,
               discover.DecisionProcessUpdate, discover.DecisionProcessRead,
               references={"signer_id": Stakeholder}),
    RecordKind("politics_notes", "politics_note", PoliticsNote, discover.PoliticsNoteCreate,
               discover.PoliticsNoteUpdate, discover.PoliticsNoteRead,
               references={"stakeholder_ids": Stakeholder}),
    RecordKind("meeting_plans", "meeting_plan", MeetingPlan, discover.MeetingPlanCreate,
               discover.MeetingPlanUpdate, discover.MeetingPlanRead),
    RecordKind("activities", "activity", Activity, discover.ActivityCreate, discover.ActivityUpdate,
               discover.ActivityRead, references={"attendee_ids": Stakeholder}, closed=("won",),
               contact="occurred_at"),
    # Diagnose
    RecordKind("problems", "problem", Problem, diagnose.ProblemCreate, diagnose.ProblemUpdate,
               diagnose.ProblemRead, references={"confirmation.stakeholder_id": Stakeholder}),
    RecordKind("qualification", "qualification", Qualification, diagnose.QualificationCreate,
               diagnose.QualificationUpdate, diagnose.QualificationRead),
    # Design
    RecordKind("solution_options", "solution_option", SolutionOption, design.SolutionOptionCreate,
               design.SolutionOptionUpdate, design.SolutionOptionRead),
    RecordKind("proposition", "proposition", Proposition, design.PropositionCreate,
               design.PropositionUpdate, design.PropositionRead, references={"problem_ids": Problem}),
    RecordKind("scope_items", "scope_item", ScopeItem, design.ScopeItemCreate, design.ScopeItemUpdate,
               design.ScopeItemRead, references={"problem_ids": Problem}),
    RecordKind("proposal_previews", "proposal_preview", ProposalPreview, design.ProposalPreviewCreate,
               design.ProposalPreviewUpdate, design.ProposalPreviewRead, references={"stakeholder_id": Stakeholder},
               contact="previewed_at"),
    # Deploy
    RecordKind("presentations", "presentation", Presentation, deploy.PresentationCreate,
               deploy.PresentationUpdate, deploy.PresentationRead,
               references={"audience_ids": Stakeholder}, contact="held_at"),
    RecordKind("objections", "objection", Objection, deploy.ObjectionCreate, deploy.ObjectionUpdate,
               deploy.ObjectionRead, references={"raised_by_id": Stakeholder}, contact="raised_at"),
    RecordKind("buying_signals", "buying_signal", BuyingSignal, deploy.BuyingSignalCreate,
               deploy.BuyingSignalUpdate, deploy.BuyingSignalRead,
               references={"stakeholder_id": Stakeholder}, contact="observed_at"),
    RecordKind("acceptance", "acceptance", Acceptance, deploy.AcceptanceCreate,
               deploy.AcceptanceUpdate, deploy.AcceptanceRead,
               references={"accepted_by_id": Stakeholder}, contact="accepted_at"),
    RecordKind("promises", "promise", Promise, deploy.PromiseCreate, deploy.PromiseUpdate, deploy.PromiseRead,
               closed=("won",)),
    RecordKind("tasks", "task", Task, deploy.TaskCreate, deploy.TaskUpdate, deploy.TaskRead, people=("owner",),
               teams=("team_id",), closed=("won", "lost")),
    RecordKind("value_reviews", "value_review", ValueReview, deploy.ValueReviewCreate, deploy.ValueReviewUpdate,
               deploy.ValueReviewRead, references={"problem_id": Problem, "task_id": Task}, closed=("won",)),
)

RECORD_KINDS: dict[str, RecordKind] = {kind.collection: kind for kind in _KINDS}
CONTACT_KINDS = [kind for kind in _KINDS if kind.contact]  # records of contact with the customer
for _contact in CONTACT_KINDS:
    _contact.contacts.extend(CONTACT_KINDS)

for _referring in _KINDS:
    for _field, _model in _referring.references.items():
        next(k for k in _KINDS if k.model is _model).referred_by.append((_referring, _field))


_EMPTY = {kind.collection: {"shape": kind.shape, "revision": "empty", "records": kind.empty,
                            "bytes": json_bytes(kind.empty)} for kind in RECORD_KINDS.values()}


def empty_snapshot() -> dict[str, Any]:
    """The snapshot of a new deal: no records of any kind."""
    return {collection: {**entry, "records": None if entry["records"] is None else []}
            for collection, entry in _EMPTY.items()}

"""The publish plan: what to create, update, withdraw, leave alone or refuse. Pure logic, no I/O.

Inputs are what the catalogue wants (one `Wanted` per dataset) and what CKAN has (`Published`, from the inventory).
A dataset is unchanged when CKAN holds it, active, with the same metadata hash and organisation: it costs no write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harvester.publish.inventory import Published
from harvester.publish.matching import keys_of, match, superseded
from harvester.publish.names import dataset_name, fallback_name


@dataclass(frozen=True)
class Wanted:
    """One merged dataset, reduced to what the plan needs. `dataset_key` is its merged key; `source_id`,
    `remote_id` and `slug` are its winning record's (they make the CKAN name of a new dataset)."""

    dataset_key: str
    source_id: str
    remote_id: str
    slug: str | None
    title: str
    metadata_hash: str | None
    organization: str
    withdrawn: bool = False
    dataset_keys: tuple[str, ...] = ()  # the records merged into it, winner first


@dataclass
class Action:
    dataset_key: str
    name: str
    organization: str | None = None
    ckan_id: str | None = None
    reason: str | None = None
    metadata_hash: str | None = None
    verify: bool = False  # known from the state store only: check ownership in CKAN before writing
    keys: tuple[str, ...] = ()  # other keys a CKAN dataset may carry and still be this one (its records)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False, ())}

    def answers_to(self, key: str | None) -> bool:
        return key is not None and (key == self.dataset_key or key in self.keys)


@dataclass
class Plan:
    pipeline: str
    create: list[Action] = field(default_factory=list)
    update: list[Action] = field(default_factory=list)
    withdraw: list[Action] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[Action] = field(default_factory=list)
    withdraw_blocked: list[Action] = field(default_factory=list)  # withdrawals held back by max_delete_share
    withdraw_blocked_reason: str | None = None
    orphaned: list[Action] = field(
        default_factory=list
    )  # owned in CKAN, absent from the catalogue: left alone
    duplicates: list[Action] = field(default_factory=list)  # a second CKAN dataset for one key: left alone
    organizations_to_create: list[str] = field(default_factory=list)
    published_active: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "create": len(self.create),
            "update": len(self.update),
            "withdraw": len(self.withdraw),
            "unchanged": len(self.unchanged),
            "refused": len(self.refused),
            "withdraw_blocked": len(self.withdraw_blocked),
            "orphaned": len(self.orphaned),
        }

    @property
    def writes_needed(self) -> int:
        return len(self.create) + len(self.update) + len(self.withdraw) + len(self.organizations_to_create)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "counts": self.counts(),
            "create": [a.to_dict() for a in self.create],
            "update": [a.to_dict() for a in self.update],
            "withdraw": [a.to_dict() for a in self.withdraw],
            "unchanged": self.unchanged,
            "refused": [a.to_dict() for a in self.refused],
            "withdraw_blocked": [a.to_dict() for a in self.withdraw_blocked],
            "withdraw_blocked_reason": self.withdraw_blocked_reason,
            "orphaned": [a.to_dict() for a in self.orphaned],
            "duplicates": [a.to_dict() for a in self.duplicates],
            "organizations_to_create": self.organizations_to_create,
            "published_active": self.published_active,
        }


def candidate_names(pipeline: str, wanted: Iterable[Wanted]) -> list[str]:
    """Every name a new dataset might take (primary and fallback), to look up in CKAN in one go."""
    out: list[str] = []
    for w in wanted:
        out.append(dataset_name(w.source_id, w.remote_id, w.slug))
        out.append(fallback_name(pipeline, w.source_id, w.remote_id, w.slug))
    return out


def make_plan(
    pipeline: str,
    wanted: list[Wanted],
    owned: Mapping[str, Published],
    *,
    names_taken: Mapping[str, Published],
    organizations: set[str],
    create_missing_organizations: bool,
    max_delete_share: float,
    duplicates: Iterable[Published] = (),
    remembered: Mapping[str, tuple[str, str]] | None = None,
) -> Plan:
    """Compare the catalogue with CKAN. `names_taken`: names found in CKAN (owned or not); `organizations`: those
    that exist in CKAN; `remembered`: dataset key -> (CKAN id, name) from the state store, for datasets the search
    cannot show (deleted ones are not in CKAN's search index)."""
    remembered = remembered or {}
    plan = Plan(pipeline)
    plan.published_active = sum(1 for p in owned.values() if p.state == "active")
    claimed: set[str] = {p.name for p in owned.values()}  # names this run already uses or will use
    missing_orgs: set[str] = set()
    matched = match(wanted, owned)
    for w in wanted:
        pub = matched.get(w.dataset_key)
        if w.withdrawn:
            if pub is not None and pub.state == "active":
                plan.withdraw.append(
                    Action(
                        w.dataset_key,
                        pub.name,
                        pub.organization,
                        pub.ckan_id,
                        reason="withdrawn at every source",
                    )
                )
            else:
                plan.unchanged.append(w.dataset_key)
            continue
        if w.organization not in organizations:
            if not create_missing_organizations:
                plan.refused.append(
                    Action(
                        w.dataset_key,
                        pub.name if pub else dataset_name(w.source_id, w.remote_id, w.slug),
                        w.organization,
                        pub.ckan_id if pub else None,
                        reason=f"organisation {w.organization!r} does not exist in CKAN and "
                        "organizations.create_missing is false",
                    )
                )
                continue
            missing_orgs.add(w.organization)
        if pub is not None:
            if (
                pub.state != "active"
                or pub.metadata_hash != w.metadata_hash
                or pub.organization != w.organization
                or pub.merged_key != w.dataset_key  # published before the merge, or under another key
                or set(pub.contributors) != set(w.dataset_keys)
            ):
                plan.update.append(
                    Action(
                        w.dataset_key, pub.name, w.organization, pub.ckan_id, metadata_hash=w.metadata_hash
                    )
                )
            else:
                plan.unchanged.append(w.dataset_key)
            continue
        known = next((k for k in keys_of(w) if k in remembered), None)
        if known is not None:
            ckan_id, old_name = remembered[known]
            plan.update.append(
                Action(
                    w.dataset_key,
                    old_name,
                    w.organization,
                    ckan_id,
                    metadata_hash=w.metadata_hash,
                    verify=True,
                    keys=keys_of(w),
                )
            )
            claimed.add(old_name)
            continue
        name = _free_name(pipeline, w, names_taken, claimed)
        if name is None:
            plan.refused.append(
                Action(
                    w.dataset_key,
                    dataset_name(w.source_id, w.remote_id, w.slug),
                    w.organization,
                    reason="its CKAN name and the fallback name are both taken by datasets harvester did not create",
                )
            )
            continue
        claimed.add(name)
        plan.create.append(
            Action(w.dataset_key, name, w.organization, metadata_hash=w.metadata_hash, keys=w.dataset_keys)
        )
    plan.organizations_to_create = sorted(missing_orgs)

    used = {p.ckan_id for p in matched.values()}
    for pub, into in superseded(wanted, owned, matched):
        plan.withdraw.append(
            Action(
                pub.dataset_key or "",
                pub.name,
                pub.organization,
                pub.ckan_id,
                reason=f"merged into {matched[into].name} ({into})",
            )
        )
        used.add(pub.ckan_id)
    for key, pub in sorted(owned.items()):
        if pub.ckan_id not in used and pub.state == "active":
            plan.orphaned.append(
                Action(key, pub.name, pub.organization, pub.ckan_id, reason="not in the catalogue")
            )
    for pub in duplicates:
        plan.duplicates.append(
            Action(
                pub.dataset_key or "",
                pub.name,
                pub.organization,
                pub.ckan_id,
                reason="second dataset for one key",
            )
        )

    if plan.withdraw:
        share = len(plan.withdraw) / max(plan.published_active, 1)
        if share > max_delete_share:
            plan.withdraw_blocked_reason = (
                f"withdrawing {len(plan.withdraw)} of the pipeline's {plan.published_active} published datasets "
                f"({share:.0%}) exceeds max_delete_share {max_delete_share:.0%}: nothing is withdrawn; check the "
                "sources' listings, or raise publish.ckan.max_delete_share for this run"
            )
            plan.withdraw_blocked, plan.withdraw = plan.withdraw, []
    return plan


def _free_name(pipeline: str, w: Wanted, taken: Mapping[str, Published], claimed: set[str]) -> str | None:
    """The primary name, or the fallback when a dataset that is not ours (or another new dataset) has it.

    A name taken by a dataset we own under another key is not free either; one taken by *this* dataset cannot
    happen here (it would be in `owned`)."""
    for name in (
        dataset_name(w.source_id, w.remote_id, w.slug),
        fallback_name(pipeline, w.source_id, w.remote_id, w.slug),
    ):
        holder = taken.get(name)
        if name in claimed:
            continue
        if holder is None or (holder.owned_by(pipeline) and holder.dataset_key == w.dataset_key):
            return name
    return None

"""Oblivious transfer for DKLs23: VSOT base OTs, KOS/SoftSpoken OT extension, and RVOLE.

Spec: ``specs/dkls23.md`` §4 (VSOT), §5 (OT extension), §6 (RVOLE), §2 (encodings and tags).

Modules
===============  ==================================================================
``gf256``        GF(2^256) check field, the 768×256 check matrix, bit transposes (§5.4)
``vsot``         Verified Simplest OT, seeds, complaint judge (§4)
``extension``    one KOS15-Fig.10 / SoftSpokenOT(k=1) extension execution (§5)
``rvole``        random vector OLE with forced reuse, ``ℓ = 2, ρ = 1`` (§6)
===============  ==================================================================

Pure code: no I/O, no clocks, no OS randomness (an :class:`~warifu.core.rng.Rng` is injected).
"""

from warifu.core.ot.rvole import (
    OTE1_LEN,
    OTE2_LEN,
    RvoleAlice,
    RvoleBob,
    pair_session_id,
)
from warifu.core.ot.vsot import (
    ALICE_DISCLOSURE_LEN,
    ALICE_SEEDS_LEN,
    BOB_DISCLOSURE_LEN,
    BOB_SEEDS_LEN,
    V1_LEN,
    V2_LEN,
    V3_LEN,
    V4_LEN,
    V5_LEN,
    AliceSeeds,
    BobSeeds,
    VsotAlice,
    VsotBob,
    judge_vsot_complaint,
    ot_setup_id,
)

__all__ = [
    "ALICE_DISCLOSURE_LEN",
    "ALICE_SEEDS_LEN",
    "BOB_DISCLOSURE_LEN",
    "BOB_SEEDS_LEN",
    "OTE1_LEN",
    "OTE2_LEN",
    "V1_LEN",
    "V2_LEN",
    "V3_LEN",
    "V4_LEN",
    "V5_LEN",
    "AliceSeeds",
    "BobSeeds",
    "RvoleAlice",
    "RvoleBob",
    "VsotAlice",
    "VsotBob",
    "judge_vsot_complaint",
    "ot_setup_id",
    "pair_session_id",
]

"""Front-end speed: parse + check of a generated 10,000-line mapping.

    python bench/compile_speed.py [--lines 10000]

Prints seconds per 1,000 lines for each stage and compares with the targets (parse+check
under 0.1 s per 1,000 lines). Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time

from syncmap.compiler.parser import lark_parser, parse
from syncmap.compiler.structure import check_structure

TARGET_PARSE_CHECK = 0.10  # seconds per 1,000 lines

HEADER = '''syncmap 1

connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
  base_url = env("PIPEDRIVE_BASE_URL")
}

connect autopilot {
  key = env("AUTOPILOT_API_KEY")
  base_url = env("AUTOPILOT_BASE_URL")
}
'''

BLOCK = '''
# block {i}
sync pipedrive.Person{i} <-> autopilot.Contact {{
  link pipedrive.custom("apId") = autopilot.contact_id
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  deletes pipedrive -> autopilot
  owner default pipedrive.me
  empty skip

  first_name        <-> FirstName
  last_name         <-> LastName
  email.primary     <-> Email with trim, lowercase
  phone.primary     <-> Phone
  organization.name  -> Company
  owner.name         -> owner_name  # full name
  custom("Score {i}") <-> custom("Score {i}", integer) conflict pipedrive wins
  status             -> Status with map {{ "open" = "Open", "won" = "Customer" }}
}}

action "Add Deal {i}" on autopilot.Contact {{
  create pipedrive.Deal {{
    title = "{{FirstName}} {{LastName}}"
    expected_close_date = today + 30 days
  }}
}}
'''


def generate(lines: int) -> str:
    parts, count, i = [HEADER], HEADER.count("\n"), 0
    while count < lines:
        block = BLOCK.format(i=i)
        parts.append(block)
        count += block.count("\n")
        i += 1
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    text = generate(args.lines)
    n_lines = text.count("\n")
    lark_parser()  # building the parser is a one-off per process, timed by `syncmap check` itself

    t0 = time.process_time()
    result = parse(text, "bench.syncmap")
    t1 = time.process_time()
    assert result.mapping is not None, result.diagnostics
    diagnostics = check_structure([result.mapping])
    t2 = time.process_time()
    assert not [d for d in diagnostics if d.is_error], diagnostics[:3]

    per_k = 1000 / n_lines
    parse_s, check_s = (t1 - t0) * per_k, (t2 - t1) * per_k
    print(f"mapping: {n_lines} lines")
    print(f"parse:        {parse_s:.4f} s per 1,000 lines")
    print(f"check:        {check_s:.4f} s per 1,000 lines")
    total = parse_s + check_s
    verdict = "ok" if total < TARGET_PARSE_CHECK else "TOO SLOW"
    print(f"parse+check:  {total:.4f} s per 1,000 lines (target < {TARGET_PARSE_CHECK}) {verdict}")
    return 0 if total < TARGET_PARSE_CHECK else 1


if __name__ == "__main__":
    sys.exit(main())

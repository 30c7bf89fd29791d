"""The referral board over HTTP (in-process, the assembled platform, real PostgreSQL, a test PKI).

The station refers Mrs Hoa to the provincial hospital (``Encounter/$referral-request`` through the API, as
the visit's page would). The board of each side shows the card in the right column and direction (counts
equal to the store's), and each step is taken from the board: the hospital accepts; the station drafts
the referral paper, signs it on the document's signing page and sends it (sending before signing is shown
refused); the hospital records the arrival, drafts the return letter, signs and returns it; the card ends
in "returned" on both boards. A CDC officer is kept out.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI
from telehealth_web_support import login, tele_environment, text_of
from web_dataset import system_token, user_token
from web_support import csrf_of

BOARD = "/app/telehealth/referrals"


def _column(html: str, step: str) -> list[str]:
    block = html.split(f'id="col-{step}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'data-task="([^"]+)"', block)


async def _step(c: httpx.AsyncClient, task: str, action: str, **data: str) -> httpx.Response:
    board = await c.get(BOARD)
    assert f'action="{BOARD}/{task}/{action}"' in board.text, (action, text_of(board.text)[:1500])
    return await c.post(f"{BOARD}/{task}/{action}", data={"csrf_token": csrf_of(board.text), **data})


async def _sign(c: httpx.AsyncClient, composition: str) -> None:
    docs = "/app/patients/p-hoa/clinical-documents"
    page = await c.get(f"{docs}/{composition}/sign")
    assert page.status_code == 200, page.text[:300]
    r = await c.post(
        f"{docs}/{composition}/sign",
        data={"certificate": "user", "role": "author", "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 303, text_of(r.text)[:1500]


def _draft(html: str, task: str) -> str:
    card = html.split(f'id="card-{task}"', 1)[1].split("</article>", 1)[0]
    found = re.search(r'name="composition" value="([^"]+)"', card)
    assert found, card
    return found.group(1)


def test_referral_board_round_trip(schema_url: str, tmp_path: Path) -> None:
    with tele_environment(schema_url, tmp_path) as env:

        async def scenario(c: httpx.AsyncClient, app: FastAPI) -> None:
            token = await user_token(env.settings, "bs.an")
            r = await c.post(
                "/fhir/Encounter/enc-tyt-1/$referral-request",
                json={"resourceType": "Parameters", "parameter": [
                    {"name": "destination", "valueReference": {"reference": "Organization/bv-tinh"}},
                    {"name": "reasonCode", "valueString": "2"}, {"name": "state", "valueString": "Tỉnh, mạch 90"},
                    {"name": "transport", "valueString": "Xe cứu thương"}]},
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
            )  # fmt: skip
            assert r.status_code == 201, r.text[:500]
            task = next(p["resource"]["id"] for p in r.json()["parameter"] if p["name"] == "task")

            await login(c, "bs.an")
            board = await c.get(BOARD)
            assert _column(board.text, "requested") == [task]
            assert 'data-direction="outgoing"' in board.text and 'data-direction="incoming"' not in board.text
            store = await c.get(
                "/fhir/Task", params={"code": "https://senhealth.vn/fhir/CodeSystem/telehealth-task|referral"},
                headers={"Authorization": f"Bearer {system_token(env.settings)}"},
            )  # fmt: skip
            assert store.json()["total"] == 1

            await login(c, "bs.binh")
            board = await c.get(BOARD)
            assert _column(board.text, "requested") == [task] and 'data-direction="incoming"' in board.text
            assert (await _step(c, task, "accept")).status_code == 303
            assert _column((await c.get(BOARD)).text, "accepted") == [task]

            await login(c, "bs.an")
            assert (await _step(c, task, "draft-summary")).status_code == 303
            board = await c.get(BOARD)
            paper = _draft(board.text, task)
            unsigned = await _step(c, task, "send-summary", composition=paper)
            assert unsigned.status_code == 409 and 'id="errors"' in unsigned.text
            await _sign(c, paper)
            sent = await _step(c, task, "send-summary", composition=paper)
            assert sent.status_code == 303, text_of(sent.text)[:1500]
            assert _column((await c.get(BOARD)).text, "summary-sent") == [task]

            await login(c, "bs.binh")
            assert (await _step(c, task, "arrive")).status_code == 303
            assert _column((await c.get(BOARD)).text, "arrived") == [task]
            drafted = await _step(
                c,
                task,
                "draft-return",
                course="Điều trị tiêu sợi huyết, ổn định.",
                advice="Tái khám tại trạm.",
            )
            assert drafted.status_code == 303, text_of(drafted.text)[:1500]
            letter = _draft((await c.get(BOARD)).text, task)
            await _sign(c, letter)
            assert (await _step(c, task, "return", composition=letter)).status_code == 303
            for user in ("bs.binh", "bs.an"):
                await login(c, user)
                board = await c.get(BOARD)
                assert _column(board.text, "completed") == [task], user
                assert _column(board.text, "requested") == []
            english = await c.get(BOARD + "?lang=en")
            assert "Returned" in english.text and "Outgoing" in english.text
            await login(c, "cdc.ha")
            assert (await c.get(BOARD)).status_code == 403

        env.run(scenario)

// Ada Admin approves a partner's bulk add with one click in the local Teams client. Pat Partner
// (Northwind Voice) sends the batch through the playground's API with `scripts/demo-partner-request
// --bulk`, run by the test once this script says it is ready: five rows for Contoso, three added at
// the service, two left out by the check. This script waits for Ada's one approval card for the batch
// ("Approve 3 new phone user(s) for Contoso?", its rows listed), looks at Pat's side ("Sent for
// approval."), clicks "Approve all 3" once, waits for "Approved by Ada Admin at ..." and then for the
// counts ("Done: 3"), and finally reads Pat's side again in the group chat: his card, updated in
// place, ends "Finished. 3 of 3 user(s) added." and the bot tells him Ada approved.
//
// Options (JSON, argv[2]): url, out, and language: "en" (default) or "fr". In French Ada first types
// "langue", then "français" (the playground always sends en-US), so her card comes in French; Pat's
// side stays in his language (English). French texts are the catalog's (i18n/fr_CA/bulk.po,
// cards.po), with the no-break space (U+00A0) before a colon.
// One JSON line per step on stdout ({event: "step", step, text, buttons, shot, ...}), a screenshot each.
'use strict';
const { CARD, EDITOR, emit, scenario, waitForText } = require('./lib');

const TEXTS = {
  en: {
    // The line every version of the card keeps (its heading changes once decided).
    marker: 'Pat Partner (Northwind Voice) added these users at the service with a bulk add',
    heading: 'Approve 3 new phone user(s) for Contoso?',
    approve: 'Approve all 3',
    reject: 'Reject',
    approved: 'Approved by Ada Admin at',
    done: 'Done: 3',
    single: 'Approve a new phone user for',
  },
  fr: {
    marker: 'Pat Partner (Northwind Voice) a ajouté ces utilisateurs au service par un ajout en bloc',
    heading: 'Approuver 3 nouvel(s) utilisateur(s) téléphonique(s) pour Contoso?',
    approve: 'Tout approuver (3)',
    reject: 'Refuser',
    approved: 'Approuvée par Ada Admin le',
    done: 'Terminés\u00a0: 3',
    single: 'Approuver un nouvel utilisateur téléphonique pour',
  },
};
// Pat's side, in his language (English).
const PAT = {
  card: 'Bulk add for Contoso',
  sent: 'Sent for approval.',
  finished: 'Finished. 3 of 3 user(s) added.',
  told: 'Ada Admin approved your bulk add for Contoso',
};
const GROUP_CHAT = 'Phone Connector group chat';
const PERSONAL_CHAT = 'Personal Chat';

// The titles of the buttons a card shows, in order (the ones a person can see and click).
async function buttons(card) {
  return card.getByRole('button').evaluateAll((all) =>
    all.filter((b) => b.offsetParent !== null).map((b) => b.getAttribute('title') || b.innerText.trim()),
  );
}

async function answered(page, text, expected) {
  const box = page.locator(EDITOR);
  await box.click();
  await box.type(text);
  await box.press('Enter');
  await page.waitForFunction((words) => document.body.innerText.includes(words), expected, { timeout: 30000 });
}

// The text message of the chat (not the chat list's preview of it) that starts with `intro`, as a person
// reads it (waits for it): its whole text, and a locator for the screenshot.
async function textMessage(page, intro) {
  const own = `xpath=//*[not(ancestor::*[@role="tree"])][text()[starts-with(normalize-space(.), ${JSON.stringify(intro)})]]`;
  // The log panel, after the chat, echoes it once the bot's post was answered (after the chat has it).
  const found = page.locator(own).first();
  await found.waitFor({ timeout: 30000 });
  // The bubble: the nearest element around the intro that holds more than the intro.
  const text = await found.evaluate((el, words) => {
    let node = el;
    while (node.parentElement && node.innerText.trim() === words.trim()) node = node.parentElement;
    return node.innerText;
  }, intro);
  return { locator: found, text };
}

async function openChat(page, name) {
  await page.getByText(name, { exact: true }).first().click();
}

scenario(async (page, shot, opts) => {
  const language = opts.language || 'en';
  const t = TEXTS[language];
  if (!t) throw new Error(`language must be one of ${Object.keys(TEXTS).join(', ')}`);

  const welcome = page.locator(CARD, { hasText: 'Hi Ada Admin' }).last();
  const welcomeText = await waitForText(page, welcome, ['Hi Ada Admin']);
  if (language === 'fr') {
    await answered(page, 'langue', 'Which language do you want me to use?');
    await answered(page, 'français', 'je vous écrirai en français');
    emit({ event: 'step', step: 'french-chosen', text: '', shot: await shot('french-chosen') });
  } else {
    emit({ event: 'step', step: 'opened', text: welcomeText, shot: await shot('opened', welcome) });
  }
  emit({ event: 'ready' });

  // Pat sends his batch now; once its rows are added, the bot sends Ada one card for all of them.
  const card = page.locator(CARD, { hasText: t.marker }).last();
  await card.waitFor({ timeout: opts.waitForCard || 60000 });
  const cardText = await waitForText(page, card, [t.heading, t.approve, t.reject]);
  emit({
    event: 'step',
    step: 'batch-card',
    text: cardText,
    buttons: await buttons(card),
    batchCards: await page.locator(CARD, { hasText: t.marker }).count(),
    singleCards: await page.locator(CARD, { hasText: t.single }).count(),
    shot: await shot('batch-card', card),
  });

  // Pat's side meanwhile: the playground shows the partner's conversation as its group chat.
  await openChat(page, GROUP_CHAT);
  const waiting = page.locator(CARD, { hasText: PAT.card }).last();
  const waitingText = await waitForText(page, waiting, [PAT.card, PAT.sent]);
  emit({ event: 'step', step: 'partner-waiting', text: waitingText, shot: await shot('partner-waiting', waiting) });
  await openChat(page, PERSONAL_CHAT);
  await card.waitFor();

  // One click.
  const started = Date.now();
  await card.getByRole('button', { name: t.approve, exact: true }).click();
  const approvedText = await waitForText(page, card, [t.approved]);
  emit({
    event: 'step',
    step: 'approved',
    text: approvedText,
    buttons: await buttons(card),
    shot: await shot('approved', card),
  });

  // Every row synced and calling enabled: the card's counts follow, in place.
  const doneText = await waitForText(page, card, [t.approved, t.done], 60000);
  emit({
    event: 'step',
    step: 'done',
    text: doneText,
    buttons: await buttons(card),
    seconds: (Date.now() - started) / 1000,
    batchCards: await page.locator(CARD, { hasText: t.marker }).count(),
    singleCards: await page.locator(CARD, { hasText: t.single }).count(),
    shot: await shot('done', card),
  });

  // Pat's side: his card (the same one, updated in place) and the bot's word of the decision.
  await openChat(page, GROUP_CHAT);
  const partnerCard = page.locator(CARD, { hasText: PAT.card }).last();
  const partnerText = await waitForText(page, partnerCard, [PAT.card, PAT.finished], 60000);
  const told = await textMessage(page, PAT.told);
  emit({
    event: 'step',
    step: 'partner-side',
    text: partnerText,
    told: told.text,
    partnerCards: await page.locator(CARD, { hasText: PAT.card }).count(),
    chat: await page.locator('body').innerText(),
    shot: await shot('partner-side', told.locator),
  });
});

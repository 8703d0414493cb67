// Ada Admin approves a partner's request in the local Teams client. The partner's side is played
// through the playground's API by scripts/demo-partner-request, run by the test once this script
// says it is ready; this script then waits for the approval card, clicks Approve and waits until the
// card says Done. Finally it opens the group chat, where the partner's conversation is shown.
'use strict';
const { CARD, emit, scenario, waitForText } = require('./lib');

const HEADING = 'Approve a new phone user for Contoso?';
// The headline changes once decided ("Approved and done: ..."); this line stays on every version.
const MARKER = 'Pat Partner (Northwind Voice) added';

scenario(async (page, shot, opts) => {
  const welcome = page.locator(CARD, { hasText: 'Hi Ada Admin' }).last();
  const welcomeText = await waitForText(page, welcome, ['Hi Ada Admin']);
  emit({ event: 'step', step: 'opened', text: welcomeText, shot: await shot('opened', welcome) });
  emit({ event: 'ready' });

  // The partner asks now; the bot sends Ada the approval card (proactively, into her chat).
  const card = page.locator(CARD, { hasText: MARKER }).last();
  await card.waitFor({ timeout: opts.waitForCard || 60000 });
  const approvalText = await waitForText(page, card, [HEADING, 'Approve', 'Reject']);
  emit({ event: 'step', step: 'approval-card', text: approvalText, shot: await shot('approval-card', card) });

  // Pat's side meanwhile: the playground shows the partner's conversation as its group chat.
  await page.getByText('Phone Connector group chat', { exact: true }).first().click();
  const waiting = page.locator(CARD, { hasText: 'Waiting for a global admin' }).last();
  const waitingText = await waitForText(page, waiting, ['Waiting for a global admin of Contoso']);
  emit({ event: 'step', step: 'partner-waiting', text: waitingText, shot: await shot('partner-waiting', waiting) });
  await page.getByText('Personal Chat', { exact: true }).first().click();
  await card.waitFor();

  await card.getByRole('button', { name: 'Approve', exact: true }).click();
  const approvedText = await waitForText(page, card, ['Approved by Ada Admin']);
  emit({ event: 'step', step: 'approved', text: approvedText, shot: await shot('approved', card) });

  const doneText = await waitForText(page, card, ['Approved by Ada Admin', 'Done.'], 60000);
  const approvalCards = await page.locator(CARD, { hasText: MARKER }).count();
  emit({ event: 'step', step: 'done', text: doneText, approvalCards, shot: await shot('done', card) });

  // The partner's conversation (played through the API) is the playground's group chat.
  await page.getByText('Phone Connector group chat', { exact: true }).first().click();
  const partnerCard = page.locator(CARD, { hasText: 'Approved by Ada Admin' }).last();
  const partnerText = await waitForText(page, partnerCard, ['Approved by Ada Admin', 'Done.']);
  const told = page.getByText('approved your request').last();
  await told.waitFor();
  emit({
    event: 'step',
    step: 'partner-side',
    text: partnerText,
    chat: await page.locator('body').innerText(),
    shot: await shot('partner-side', told),
  });
});

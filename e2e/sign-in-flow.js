// On the ConnecttoTeams backend, for a tenant without service-provider consent (tests.ctt_local):
// Ada adds a phone user; the card asks a Global Admin to sign in; the button opens the platform's
// sign-in page (the double's simulated one), whose Sign in sends the result to the bot's callback;
// the card in Teams then finishes. One JSON line per step on stdout.
'use strict';
const { emit, scenario, waitForText } = require('./lib');
const { addUserUntilProgress } = require('./add-user');

const SIGN_IN = 'Sign in as Global Admin to finish';

scenario(async (page, shot, opts) => {
  const card = await addUserUntilProgress(page, shot, opts);
  const waitingText = await waitForText(page, card, [SIGN_IN, 'Get a new sign-in link'], 60000);
  emit({ event: 'step', step: 'sign-in-asked', text: waitingText, shot: await shot('sign-in-asked', card) });

  // Action.OpenUrl: the client opens the link in a new window.
  const [portal] = await Promise.all([
    page.context().waitForEvent('page'),
    page.locator(`button[aria-label="${SIGN_IN}"]`).last().click(),
  ]);
  await portal.waitForLoadState('domcontentloaded');
  const portalText = await portal.locator('body').innerText();
  const portalShot = `${opts.out}/90-portal.png`;
  await portal.screenshot({ path: portalShot });
  emit({ event: 'step', step: 'portal', url: portal.url(), text: portalText, shot: portalShot });

  await portal.getByRole('button', { name: 'Sign in', exact: true }).click();
  await portal.locator('#answer').waitFor();
  const answerText = await portal.locator('body').innerText();
  const answerShot = `${opts.out}/91-signed-in.png`;
  await portal.screenshot({ path: answerShot });
  emit({ event: 'step', step: 'signed-in', text: answerText, shot: answerShot });
  await portal.close();

  const doneText = await waitForText(page, card, ['Done.', 'Enable calling'], 60000);
  emit({ event: 'step', step: 'done', text: doneText, shot: await shot('done', card) });
});

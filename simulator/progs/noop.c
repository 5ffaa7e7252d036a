/* SPDX-License-Identifier: Apache-2.0 */
/* Does nothing. Copied to a miner's name (e.g. /tmp/xmrig) to exercise executable and argument recognition. */
int main(void)
{
	return 0;
}

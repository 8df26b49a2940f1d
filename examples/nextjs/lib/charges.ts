import { randomUUID } from "node:crypto";

export interface Charge {
  id: string;
  amount: number;
  currency: string;
}

/** Stands in for the payment provider: every call is a charge, so a duplicate would show here. */
export const charges: Charge[] = [];

export async function createCharge(amount: number, currency: string): Promise<Charge> {
  const charge = { id: `ch_${randomUUID().slice(0, 8)}`, amount, currency };
  charges.push(charge);
  return charge;
}

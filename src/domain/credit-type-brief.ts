/**
 * A credit type named inside another object (API.md "Shapes": `{id, code, …}`): its id, its code and its unit —
 * what a balance, a use, a hold and an invoice line name it by, and so every event's data and a renewal's or a
 * recharge's granted balances (src/views/credit-type.ts `creditTypeBrief` is its schema).
 */
export interface CreditTypeBrief {
  id: string;
  code: string;
  unit: string;
}

/** The brief of a credit type (a row, a resolved reference): only its id, code and unit. */
export const toCreditTypeBrief = ({ id, code, unit }: CreditTypeBrief): CreditTypeBrief => ({ id, code, unit });

/**
 * The cron syntax runyard checks before croner reads an expression: `?` and `#`, which croner
 * 10 reads loosely (`?` as a day filter that matches every day, `0##4` as every Sunday).
 */
import { invalid } from '../core/validate.js';

/** The fields of a 5-, 6- or 7-field expression, in order. */
const fieldNames: Readonly<Record<number, readonly string[]>> = {
  5: ['minute', 'hour', 'day-of-month', 'month', 'day-of-week'],
  6: ['second', 'minute', 'hour', 'day-of-month', 'month', 'day-of-week'],
  7: ['second', 'minute', 'hour', 'day-of-month', 'month', 'day-of-week', 'year'],
};

/** `<weekday>#<n>`: a weekday as a number (0–7, 0 and 7 are Sunday) or a name, n from 1 to 5. */
const nthWeekday = /^([0-7]|sun|mon|tue|wed|thu|fri|sat)#[1-5]$/i;

const questionMarkRule =
  'a cron expression with `?` only as a whole day-of-month or day-of-week field (no specific value, as in `10 2 ? * WED`)';
const hashRule =
  'a cron expression with `#` only in the day-of-week field, as `<weekday>#<1-5>` (`MON#2`: the second Monday of the month)';

/**
 * Checks `?` and `#` and returns the expression croner should read.
 *
 * `?` in day-of-month or day-of-week means "no specific value", as in Quartz and cron-parser:
 * that field does not restrict the day, so `10 2 ? * 3` fires at 02:10 on Wednesdays only.
 * croner 10 reads `?` as a field that matches every day, which it then ORs with the other
 * day field (every day; https://github.com/Hexagon/croner/issues/180); read as `*`, croner
 * lets the other field alone choose the days.
 *
 * @throws RunyardError `ERR_INVALID` naming `cron`, the field and the rule.
 */
export function normalizeCron(expression: string): string {
  const fields = expression.trim().split(/\s+/);
  const names = fieldNames[fields.length];
  // A nickname (`@daily`) or a wrong number of fields: croner's own message says what is wrong.
  if (names === undefined) return expression;
  return fields
    .map((field, index) => {
      const name = names[index]!;
      const isDayField = name === 'day-of-month' || name === 'day-of-week';
      if (field.includes('?')) {
        if (field !== '?' || !isDayField) {
          throw invalid(
            'cron',
            `${questionMarkRule}; its ${name} field is \`${field}\``,
            expression,
          );
        }
        return '*';
      }
      if (field.includes('#')) {
        const malformed =
          name !== 'day-of-week'
            ? field
            : field.split(',').find((part) => part.includes('#') && !nthWeekday.test(part));
        if (malformed !== undefined) {
          throw invalid('cron', `${hashRule}; its ${name} field has \`${malformed}\``, expression);
        }
      }
      return field;
    })
    .join(' ');
}
